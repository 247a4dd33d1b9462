"""Equal-effort tuning: search spaces, trial results, tuned presets and the summary.

The search itself is a Hydra sweeper (`hydra_plugins/genbench_optuna_sweeper`,
selected by `+experiment=tune`) that drives Optuna's ask/tell API and launches
each trial as an ordinary genbench job. This module holds what needs neither
Optuna nor a launcher, so it can be tested and reused on its own:

- `parse_dimension`: one search dimension in Hydra's sweep syntax
  (`tag(log, interval(1e-4, 1e-2))`, `int(interval(1, 5))`, `choice(a, b)`,
  `range(1, 6)`), checked for an empty range;
- `read_result`: a trial's objective from its `metrics.json` (the mean KL over
  its seeds), or why it failed;
- `write_presets`: the best trial as `tuned/model/<model>_tuned.yaml` and
  `tuned/experiment/<model>_tuned.yaml`;
- `write_summary` / `TuneSummary`: `summary.md`, `summary.csv`,
  `tune_compare.png` (default vs tuned, retrained on fresh seeds) and
  `tune_history.png` (best-so-far KL against trial), from the sweep folder's
  `tune.json` (written by the sweeper) and the jobs' `metrics.json`.

`python -m genbench.tune SWEEP_FOLDER` rebuilds the summary of a tuning sweep.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .artifacts import atomic_write, write_json

__all__ = [
    "TuneError",
    "Dimension",
    "parse_dimension",
    "format_value",
    "TrialResult",
    "read_result",
    "write_presets",
    "load_state",
    "write_summary",
    "TuneSummary",
    "main",
]

STATE_FILE = "tune.json"
TAGS = ("log",)  # the only tag a dimension may carry
SYNTAX = (
    "interval(a, b), tag(log, interval(a, b)), int(interval(a, b)), "
    "range(a, b[, step]) or choice(x, y, ...)"
)


class TuneError(ValueError):
    """A tuning setting is not allowed (one line: key, value, what is allowed)."""


def _refuse(key: str, value: Any, why: str) -> TuneError:
    return TuneError(f"{key}={value!r} is not allowed: {why}")


# --- search space ----------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One searched config key and the values it may take.

    kind: "float" (low..high, optionally log scale), "int" (low..high inclusive,
    `step`), or "categorical" (`choices`). `text` is the dimension as written.
    """

    key: str
    kind: str
    text: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: int = 1
    choices: tuple[Any, ...] = ()

    def candidates(self) -> list[Any]:
        """Values checked against the config before any trial: both ends, or
        every choice (genbench's checks are monotone bounds, so the ends cover
        a range)."""
        return (
            list(self.choices) if self.kind == "categorical" else [self.low, self.high]
        )

    def distribution(self):
        """The Optuna distribution of this dimension (imports Optuna)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "float":
            return FloatDistribution(float(self.low), float(self.high), log=self.log)
        if self.kind == "int":
            step = 1 if self.log else self.step
            return IntDistribution(
                int(self.low), int(self.high), log=self.log, step=step
            )
        return CategoricalDistribution(list(self.choices))


def parse_dimension(key: str, text: str, where: str | None = None) -> Dimension:
    """Parse `text` (Hydra's sweep syntax) as the search dimension of `key`.

    `where` names the setting in errors (e.g. `hydra.sweeper.spaces.rbm`; None:
    the key alone, as given on the command line). Raises TuneError for anything
    but a non-empty interval, range or choice.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    name = key if where is None else f"{where}.{key}"
    text = str(text).strip()
    try:
        override = OverridesParser.create().parse_override(f"{key}={text}")
    except Exception as err:  # Hydra's grammar errors are several lines long
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        why = f"not Hydra sweep syntax ({first}); use {SYNTAX}"
        raise _refuse(name, text, why) from None
    if override.is_add() or override.is_delete() or override.is_force_add():
        raise _refuse(name, text, "a dimension names an existing key, without +/~")
    if not override.is_sweep_override():
        raise _refuse(
            name, text, f"a fixed value is not a search dimension; use {SYNTAX}"
        )
    sweep = override.value()
    unknown = set(sweep.tags) - set(TAGS)
    if unknown:
        raise _refuse(
            name, text, f"unknown tag {sorted(unknown)}; allowed: {list(TAGS)}"
        )
    log = "log" in sweep.tags
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if not low < high:
            raise _refuse(name, text, f"empty range: low {low} must be < high {high}")
        if log and low <= 0:
            raise _refuse(name, text, f"a log scale needs low > 0 (low is {low})")
        kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        return Dimension(key, kind, text, low=low, high=high, log=log)
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if not all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            raise _refuse(
                name, text, "range() takes integers; use interval() for floats"
            )
        if len(values) < 2:
            raise _refuse(name, text, "empty range: it must hold at least two values")
        if log:
            raise _refuse(name, text, "tag(log, ...) applies to interval() only")
        return Dimension(
            key, "int", text, low=min(values), high=max(values), step=abs(sweep.step)
        )
    assert isinstance(sweep, ChoiceSweep)
    choices = tuple(override.sweep_iterator())
    if len(choices) < 2:
        raise _refuse(name, text, "empty choices: give at least two values")
    if log:
        raise _refuse(name, text, "tag(log, ...) applies to interval() only")
    if len(set(map(repr, choices))) < len(choices):
        raise _refuse(name, text, "a choice is listed twice")
    if not all(c is None or isinstance(c, (str, int, float, bool)) for c in choices):
        raise _refuse(name, text, "choices are numbers, strings, booleans or null")
    return Dimension(key, "categorical", text, choices=choices)


def format_value(value: Any) -> str:
    """A value as a Hydra override writes it (strings quoted, floats exact)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


# --- results of trials -------------------------------------------------------------


@dataclass(frozen=True)
class TrialResult:
    """What a trial job left: `complete` with its objective, `fail` with a
    reason (told to Optuna as FAIL), or `unfinished` (interrupted or never
    ran: the trial stays open and runs again when the search is resumed)."""

    state: str
    value: float | None = None
    reason: str | None = None


def read_result(folder: Path) -> TrialResult:
    """The objective of the trial job in `folder`: its mean KL over seeds.

    A job whose seeds all diverged, or only some (the mean of the others would
    flatter the setting), a KL that is null, or a job refused or crashed, is a
    failed trial; an interrupted job or one without `metrics.json` is unfinished.
    """
    file = Path(folder) / "metrics.json"
    if not file.exists():
        return TrialResult("unfinished", reason="no metrics.json (the job did not end)")
    try:
        m = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        return TrialResult("unfinished", reason=f"unreadable metrics.json: {err}")
    status = m.get("status")
    if status == "interrupted":
        return TrialResult("unfinished", reason="interrupted")
    if status in ("config_error", "error"):
        return TrialResult("fail", reason=f"{status}: {m.get('error')}")
    if status in ("failed", "partial"):
        bad = [s for s in m.get("seed_status", []) if s.get("status") != "ok"]
        return TrialResult(
            "fail", reason=f"{len(bad)} of {len(m.get('seeds', []))} seed(s) diverged"
        )
    if status != "ok":
        return TrialResult("fail", reason=f"status {status!r}")
    kl = m["metrics"]["kl"]["mean"]
    if kl is None or not math.isfinite(kl):
        return TrialResult("fail", reason="KL is null")
    return TrialResult("complete", value=float(kl))


# --- presets ------------------------------------------------------------------------


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def write_presets(
    tuned_dir: Path, model: str, params: dict[str, Any], note: str
) -> dict[str, Path]:
    """Write the tuned settings as presets under `tuned_dir` (`<sweep>/tuned`).

    `tuned/model/<model>_tuned.yaml`: `defaults: [<model>]` plus the tuned
    `model.*` keys (`--config-dir <sweep>/tuned model=<model>_tuned`).
    `tuned/experiment/<model>_tuned.yaml`: that model plus the tuned keys outside
    `model` (e.g. `train.batch_size`) (`--config-dir <sweep>/tuned
    +experiment=<model>_tuned`). `note` heads both files as comments.
    """
    tuned_dir = Path(tuned_dir)
    name = f"{model}_tuned"
    inside = {
        k.removeprefix("model."): v for k, v in params.items() if k.startswith("model.")
    }
    outside = {k: v for k, v in params.items() if not k.startswith("model.")}
    comment = "".join(f"# {line}\n" for line in note.splitlines())
    model_yaml = comment + OmegaConf.to_yaml(
        OmegaConf.create({"defaults": [model, "_self_"], **inside})
    )
    experiment_yaml = (
        "# @package _global_\n"
        + comment
        + OmegaConf.to_yaml(
            OmegaConf.create(
                {"defaults": [{"override /model": name}, "_self_"], **_nest(outside)}
            )
        )
    )
    paths = {
        "model": tuned_dir / "model" / f"{name}.yaml",
        "experiment": tuned_dir / "experiment" / f"{name}.yaml",
    }
    atomic_write(paths["model"], model_yaml)
    atomic_write(paths["experiment"], experiment_yaml)
    return paths


# --- state of a tuning sweep ------------------------------------------------------


def load_state(sweep: Path) -> dict[str, Any]:
    """The sweep folder's `tune.json` ({} if there is none)."""
    file = Path(sweep) / STATE_FILE
    if not file.exists():
        return {}
    return json.loads(file.read_text())


def save_state(sweep: Path, state: dict[str, Any]) -> None:
    write_json(Path(sweep) / STATE_FILE, state)


def _metrics(sweep: Path, folder: str | None) -> dict[str, Any] | None:
    if not folder:
        return None
    file = Path(sweep) / folder / "metrics.json"
    if not file.exists():
        return None
    m = json.loads(file.read_text())
    return m if "metrics" in m else None


def _kl_cell(m: dict[str, Any] | None) -> str:
    """`mean ± std [95 % interval] (n)` of KL from a job's metrics.json."""
    if m is None:
        return "—"
    kl = m["metrics"]["kl"]
    if kl["mean"] is None:
        return f"every seed diverged ({m['status']})"
    n = sum(v is not None for v in kl["per_seed"])
    text = f"{kl['mean']:.4f} ± {kl['std']:.4f}"
    if kl.get("ci95"):
        text += f" [{kl['ci95'][0]:.4f}, {kl['ci95'][1]:.4f}]"
    return text + f" ({n})"


def _trained_with(m: dict[str, Any], best: dict[str, Any]) -> bool:
    """Whether a retrain job's config holds the best trial's settings (a search
    continued after the retrain may have found a better trial)."""
    for key, value in (best.get("params") or {}).items():
        node: Any = m.get("config", {})
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


def _seed_range(seed: int, n: int) -> str:
    return f"{seed}" if n == 1 else f"{seed}–{seed + n - 1}"


def _trial_budget(study: dict[str, Any]) -> str:
    t = study["trial"]
    total = study["n_trials"] * t["seeds"] * t["steps"]
    return (
        f"{study['n_trials']} trials × {t['seeds']} seeds × {t['steps']} steps "
        f"= {total:,} seed-steps".replace(",", " ")
    )


def _best_so_far(trials: list[dict[str, Any]]) -> list[tuple[int, float]]:
    best, out = math.inf, []
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["state"] == "COMPLETE" and t["value"] is not None:
            best = min(best, t["value"])
        if math.isfinite(best):
            out.append((t["number"], best))
    return out


def to_markdown(sweep: Path, state: dict[str, Any]) -> str:
    """summary.md of a tuning sweep: default vs tuned per model, then each search."""
    return "\n".join(_comparison(sweep, state) + _searches(sweep, state)) + "\n"


def _comparison(sweep: Path, state: dict[str, Any]) -> list[str]:
    """The head of summary.md: trial budget, selection, default vs tuned table."""
    setting = state["setting"]
    studies = state["studies"]
    mode = "continuous" if setting["bins"] == 0 else f"{setting['bins']} bins"
    out = [
        f"# genbench tuning: {setting['target']}, budget {setting['budget']} "
        f"({setting['scope']}), {mode}\n",
    ]
    budgets = {_trial_budget(s) for s in studies.values()}
    first = next(iter(studies.values()))
    t, r = first["trial"], first["retrain"]
    equal = "the same for every model" if len(budgets) == 1 else "NOT the same"
    out.append(
        f"**Trial budget** ({equal}): {'; '.join(sorted(budgets))}; TPE sampler, "
        f"seed {first['sampler']['seed']}. Objective of a trial: the mean KL(P‖Q) "
        f"over its seeds {_seed_range(t['seed'], t['seeds'])} after its steps; a "
        "trial with a diverged seed counts as failed.\n"
    )
    if not r.get("enabled", True):
        out.append(
            "**Selection.** No retrain (`hydra.sweeper.retrain.enabled=false`): "
            "only the search's own numbers below, which flatter the best trial.\n"
        )
    else:
        out.append(
            f"**Selection.** The best trial's settings and the defaults are both "
            f"retrained at {r['steps']} steps on {r['seeds']} fresh seeds "
            f"({_seed_range(r['seed'], r['seeds'])}, none used by the search), so "
            "the tuned number below is not the search's optimistic best.\n"
        )
    out.append(
        "| model | default | tuned | best trial (its search KL) | trials ok / failed "
        "/ open | searched |"
    )
    out.append("|---|---|---|---|---|---|")
    tuned_means = {}
    for model, s in studies.items():
        tuned = _metrics(sweep, (s.get("retrain_jobs") or {}).get("tuned"))
        fresh = tuned is not None and _trained_with(tuned, s.get("best") or {})
        if fresh and tuned["metrics"]["kl"]["mean"] is not None:
            tuned_means[model] = tuned
    best_model = min(
        tuned_means, key=lambda k: tuned_means[k]["metrics"]["kl"]["mean"], default=None
    )
    for model, s in studies.items():
        jobs = s.get("retrain_jobs") or {}
        default = _metrics(sweep, jobs.get("default"))
        tuned = _metrics(sweep, jobs.get("tuned"))
        tuned_cell = _kl_cell(tuned)
        if tuned is not None and not _trained_with(tuned, (s.get("best") or {})):
            tuned_cell = "stale: not the best trial's settings; re-run the command"
        if len(tuned_means) < 2:
            pass  # nothing to compare
        elif model == best_model:
            tuned_cell = f"**{tuned_cell}**"
        elif model in tuned_means:
            lo, hi = (tuned["metrics"]["kl"].get("ci95") or [None, None])[:2]
            best_ci = tuned_means[best_model]["metrics"]["kl"].get("ci95")
            if lo is not None and best_ci and lo <= best_ci[1] and best_ci[0] <= hi:
                tuned_cell = f"≈ {tuned_cell}"
        counts = {st: 0 for st in ("COMPLETE", "FAIL", "RUNNING")}
        for trial in s["trials"]:
            counts[trial["state"]] = counts.get(trial["state"], 0) + 1
        best = s.get("best")
        best_cell = f"#{best['number']}: {best['value']:.4f}" if best else "—"
        out.append(
            f"| {model} | {_kl_cell(default)} | {tuned_cell} | {best_cell} | "
            f"{counts['COMPLETE']} / {counts['FAIL']} / {counts['RUNNING']} "
            f"of {s['n_trials']} | {', '.join(s['space'])} |"
        )
    out.append(
        "\nCells: KL mean ± std over the retrain seeds [95 % t-interval] (n seeds); "
        "**bold**: the lowest tuned mean; ≈: its interval overlaps the best one's. "
        "Open trials were interrupted and run again when the same command is "
        "re-run. Figures: `tune_compare.png`, `tune_history.png`.\n"
    )
    return out


def _searches(sweep: Path, state: dict[str, Any]) -> list[str]:
    """One section per model: its study, space, defaults and best values."""
    out = []
    for model, s in state["studies"].items():
        out.append(f"\n## {model}: search\n")
        out.append(
            f"Study `{s['study_name']}` ({s['storage_label']}); {_trial_budget(s)}; "
            f"status: {s['status']}."
        )
        seconds = sum(
            (_metrics(sweep, tr.get("folder")) or {})
            .get("timing", {})
            .get("wall_seconds", 0.0)
            for tr in s["trials"]
        )
        out.append(
            f"Time in trial jobs: {seconds:.0f} s (their own wall time, summed).\n"
        )
        best = s.get("best")
        out.append("| key | space | default | best trial |")
        out.append("|---|---|---|---|")
        for key, text in s["space"].items():
            tuned = best["params"].get(key) if best else None
            shown = "—" if best is None else _show(tuned)
            out.append(
                f"| {key} | `{text}` | {_show(s['defaults'].get(key))} | {shown} |"
            )
        if s.get("presets"):
            p = s["presets"]
            out.append(
                f"\nPresets: `{p['model']}` (run: `python -m genbench.run "
                f"--config-dir {sweep / 'tuned'} model={model}_tuned`) and "
                f"`{p['experiment']}` (also the tuned keys outside `model`: "
                f"`+experiment={model}_tuned`)."
            )
        failed = [tr for tr in s["trials"] if tr["state"] == "FAIL"]
        if failed:
            out.append(
                "\nFailed trials (told to Optuna as FAIL; the search went on):\n"
            )
            for tr in failed:
                out.append(
                    f"- #{tr['number']} `{tr.get('folder')}`: {tr.get('reason')}"
                )
    return out


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else str(value)


def plot_compare(sweep: Path, state: dict[str, Any], path: Path) -> None:
    """Per model: default and tuned KL over the retrain seeds (points) with the
    mean and its 95 % interval, one panel per model (own scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import COLORS, _save

    studies = state["studies"]
    fig, axes = plt.subplots(
        1,
        len(studies),
        squeeze=False,
        figsize=(max(6.4, 3.2 * len(studies)), 3.6),
        layout="constrained",
    )
    for ax, (model, s) in zip(axes[0], studies.items(), strict=True):
        jobs = s.get("retrain_jobs") or {}
        for i, which in enumerate(("default", "tuned")):
            m = _metrics(sweep, jobs.get(which))
            if m is not None and which == "tuned":
                m = m if _trained_with(m, s.get("best") or {}) else None
            if m is None:
                ax.text(i, 0.5, "—", ha="center", transform=ax.get_xaxis_transform())
                continue
            kl = m["metrics"]["kl"]
            seeds = [v for v in kl["per_seed"] if v is not None]
            offsets = [(j - (len(seeds) - 1) / 2) * 0.04 for j in range(len(seeds))]
            ax.scatter(
                [i + o for o in offsets], seeds, s=10, color=COLORS[i], alpha=0.5
            )
            if kl["mean"] is not None:
                lo, hi = kl["ci95"] or (kl["mean"], kl["mean"])
                ax.errorbar(
                    [i + 0.25],
                    [kl["mean"]],
                    yerr=[[kl["mean"] - lo], [hi - kl["mean"]]],
                    fmt="o",
                    color=COLORS[i],
                    capsize=4,
                )
        ax.set_xticks([0, 1], ["default", "tuned"])
        ax.set_xlim(-0.5, 1.7)
        ax.set_title(f"{model}", fontsize=10)
        ax.set_ylabel("KL(P‖Q)")
        ax.grid(alpha=0.3, axis="y")
    first = next(iter(studies.values()))
    r = first["retrain"]
    fig.suptitle(
        f"{state['setting']['target']}: default vs tuned, {r['steps']} steps, "
        f"{r['seeds']} fresh seeds (points; mean and 95 % interval)\n"
        f"search per model: {_trial_budget(first)}",
        fontsize=9,
    )
    _save(fig, path)


def plot_history(state: dict[str, Any], path: Path) -> None:
    """Each trial's objective (dots; failed trials as x on the top edge) and the
    best so far (steps), per model, against the trial number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from .plots import COLORS, _save

    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    positive = True
    for i, (model, s) in enumerate(state["studies"].items()):
        color = COLORS[i % len(COLORS)]
        done = [t for t in s["trials"] if t["state"] == "COMPLETE"]
        xs = [t["number"] for t in done]
        ys = [t["value"] for t in done]
        positive = positive and all(y > 0 for y in ys)
        ax.scatter(xs, ys, s=12, color=color, alpha=0.45)
        best = _best_so_far(s["trials"])
        if best:
            bx, by = zip(*best, strict=True)
            ax.step(bx, by, where="post", color=color, label=f"{model} (best so far)")
        failed = [t["number"] for t in s["trials"] if t["state"] == "FAIL"]
        if failed:
            ax.scatter(
                failed,
                [1.0] * len(failed),
                marker="x",
                color=color,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
            )
    if positive and any(t["state"] == "COMPLETE" for t in _all_trials(state)):
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    first = next(iter(state["studies"].values()))
    ax.set_ylabel(f"mean KL over {first['trial']['seeds']} seeds")
    ax.set_title(
        f"{state['setting']['target']}: search history ({_trial_budget(first)}); "
        "x: failed",
        fontsize=9,
    )
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8, frameon=False)
    _save(fig, path)


def _all_trials(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for s in state["studies"].values() for t in s["trials"]]


def write_summary(sweep: Path) -> list[str]:
    """Write summary.md, summary.csv and the two figures of a tuning sweep.

    Returns the failures that should fail the command: jobs that crashed or were
    refused, and retrain jobs without a result. A trial whose seeds diverged is
    a search result (told to Optuna as FAIL), not such a failure.
    """
    from . import report

    sweep = Path(sweep)
    state = load_state(sweep)
    rows = report.collect([sweep])
    atomic_write(sweep / "summary.csv", report.to_csv(rows))
    if not state.get("studies"):
        atomic_write(
            sweep / "summary.md", "# genbench tuning\n\nNo study has started.\n"
        )
        return report.failures(rows)
    atomic_write(sweep / "summary.md", to_markdown(sweep, state))
    plot_compare(sweep, state, sweep / "tune_compare.png")
    plot_history(state, sweep / "tune_history.png")
    trial_dirs = {
        Path(t["folder"]).name
        for s in state["studies"].values()
        for t in s["trials"]
        if t.get("folder")
    }
    failures = []
    for line in report.failures(rows):
        job, _, status = line.partition(": ")
        # a trial's own divergence is a result; "missing" trials are open ones
        if job in trial_dirs and status.split(" ")[0] in ("failed", "missing"):
            continue
        failures.append(line)
    return failures


class TuneSummary(Callback):
    """The tuning sweep's summary when the multirun ends (replaces SweepSummary
    in `+experiment=tune`); its failures set the command's exit code."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from .session import SESSION

        folder = Path(config.hydra.sweep.dir)
        SESSION.sweep_failures = write_summary(folder)
        SESSION.sweep_dir = str(folder)
        state = load_state(folder)
        if state.get("studies"):  # the comparison on the console too
            print("\n".join(_comparison(folder, state)))
        print(f"genbench: tuning summary in {folder}/summary.md", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genbench.tune",
        description="Rebuild the summary of a genbench tuning sweep folder.",
    )
    parser.add_argument("sweep", type=Path, help="the sweep folder (holds tune.json)")
    args = parser.parse_args(argv)
    if not (args.sweep / STATE_FILE).exists():
        parser.error(f"no {STATE_FILE} in {args.sweep}: not a tuning sweep folder")
    write_summary(args.sweep)
    print(f"{args.sweep / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
