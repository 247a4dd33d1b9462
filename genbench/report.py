"""Tables and figures over runs and sweeps: `python -m genbench.report PATH...`.

Collects every `metrics.json` below the given folders (single runs, sweep job
folders, several sweeps together) into tidy rows, one per job per seed, and
writes `summary.csv`, `summary.md`, `summary.tex` (`--format latex`) and the
figures. Job folders that have a Hydra record but no `metrics.json` (a job that
crashed or never ran) are rows with status `missing`. A multirun writes the same
files into its sweep folder when it ends (`SweepSummary`, registered in
`genbench/conf/config.yaml`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .artifacts import atomic_write, csv_text, t_interval
from .identity import COMPLETE, flatten, identity, identity_hash, read_record
from .session import SESSION

__all__ = [
    "collect",
    "to_csv",
    "to_markdown",
    "to_latex",
    "latex_escape",
    "plot_budget",
    "plot_steps",
    "write_summary",
    "SweepSummary",
    "run_summary",
    "say",
    "compiling",
    "main",
]

HEADLINE = "kl"


def _job_folders(paths: Iterable[Path]) -> list[Path]:
    found: set[Path] = set()
    for path in paths:
        path = Path(path)
        if (path / "metrics.json").exists() or (path / ".hydra").is_dir():
            found.add(path)
        for marker in list(path.rglob("metrics.json")) + list(path.rglob(".hydra")):
            found.add(marker.parent)
    return sorted(found)


def _overrides(folder: Path) -> dict[str, str]:
    file = folder / ".hydra" / "overrides.yaml"
    if not file.exists():
        return {}
    items = OmegaConf.to_container(OmegaConf.load(file)) or []
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        out[key.lstrip("+~")] = value
    return out


def _config_of(folder: Path, record: dict | None) -> dict | None:
    """The resolved config of a job: from metrics.json, else from Hydra's record
    (a job that never finished)."""
    if record is not None and isinstance(record.get("config"), dict):
        return record["config"]
    file = folder / ".hydra" / "config.yaml"
    try:
        config = OmegaConf.to_container(OmegaConf.load(file), resolve=True)
    except Exception:  # absent, or an interpolation that no longer resolves
        return None
    return config if isinstance(config, dict) else None


def _varying(configs: list[dict]) -> list[str]:
    """Dotted identity keys whose values differ between `configs`."""
    flats = [flatten(identity(c)) for c in configs]
    keys = sorted({k for f in flats for k in f})
    return [k for k in keys if len({_text(f.get(k)) for f in flats}) > 1]


def _text(value: Any) -> str:
    """A config value as a label: lists as compact JSON, floats exactly."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return "null"
    return repr(value) if isinstance(value, float) else str(value)


def collect(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """One row per job per seed (one row per job if it has no metrics).

    Every row names its configuration (`identity`, Hydra's `choice.<group>`, and
    `config.<key>` for each key that differs between the jobs found) and says
    whether it enters the tables (`counted`): only seeds that did not diverge, of
    jobs that finished (`ok`, `partial`), and each configuration and seed stream
    once (the newest result; the others get `repeat_of`). Jobs that did not
    finish get `replaced_by` when other jobs hold all their seeds.
    """
    jobs = []
    for folder in _job_folders(paths):
        record = read_record(folder)
        config = _config_of(folder, record)
        jobs.append((folder, record, config))
    varying = _varying([c for _, _, c in jobs if c is not None])
    rows: list[dict[str, Any]] = []
    for folder, record, config in jobs:
        rows += _job_rows(folder, record, config, varying)
    _settle(rows)
    return rows


def _job_rows(
    folder: Path, record: dict | None, config: dict | None, varying: list[str]
) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "job": str(folder),
        **{f"override.{k}": v for k, v in _overrides(folder).items()},
    }
    if config is not None:
        train = config.get("train") or {}
        flat = flatten(identity(config))
        base.update(
            {
                "identity": identity_hash(config),
                "seed_base": train.get("seed", 0),
                "n_seeds": train.get("seeds"),
                **{f"config.{k}": _text(flat[k]) for k in varying if k in flat},
            }
        )
    if record is None:
        return [{**base, "status": "missing"}]
    base.update({f"choice.{k}": v for k, v in (record.get("choices") or {}).items()})
    file = folder / "metrics.json"
    base["finished"] = datetime.fromtimestamp(file.stat().st_mtime, timezone.utc)
    base["finished"] = base["finished"].isoformat(timespec="seconds")
    if record.get("status") == "duplicate":
        same_as = (folder / str(record.get("same_as"))).resolve()
        return [{**base, "status": "duplicate", "same_as": str(same_as)}]
    if "metrics" not in record:  # a job that raised: status and message only
        status = record.get("status", "error")
        return [{**base, "status": status, "error": record.get("error")}]
    m = record
    common = {
        **base,
        "model": m["model"],
        "target": m["target"],
        "bins": m["bins"],
        "decode": m.get("decode"),
        "budget": m["budget"]["params"],
        "budget_scope": m["budget"]["scope"],
        "hidden": m["hidden"],
        "n_params": m["n_params"],
        "steps": m["steps"],
        "steps_done": m.get("steps_done", m["steps"]),
        "flops_per_step": m.get("flops_per_step"),
        "modes_total": m.get("modes_total"),
        "run_status": m["status"],
        **{f"time.{k}": v for k, v in m["timing"].items()},
    }
    rows = []
    for i, seed in enumerate(m["seeds"]):
        seed_status = m["seed_status"][i]
        row = {**common, "seed": seed, "status": seed_status["status"]}
        if seed_status.get("step") is not None:
            row["diverged_step"] = seed_status["step"]
        for name, stat in m["metrics"].items():
            row[name] = stat["per_seed"][i]
            row[f"{name}_floor"] = stat.get("floor")
        rows.append(row)
    return rows


def _fallback_identity(r: dict[str, Any]) -> str:
    """Rows without a config (built by hand): the fields they carry."""
    keys = ("model", "target", "bins", "decode", "budget", "budget_scope", "steps")
    return "|".join(str(r.get(k)) for k in keys)


def _identity_of(r: dict[str, Any]) -> str:
    return r.get("identity") or _fallback_identity(r)


def _streams(r: dict[str, Any]) -> list[tuple]:
    """The seed streams a row stands for (see `identity.seed_streams`)."""
    base = int(r.get("seed_base") or 0)
    if r.get("seed") is not None:
        return [(_identity_of(r), int(r["seed"]))]
    n = int(r.get("n_seeds") or 0)
    return [(_identity_of(r), base + i) for i in range(n)]


def _eligible(r: dict[str, Any]) -> bool:
    """A seed of a job that finished, which did not diverge."""
    return (
        "model" in r
        and r.get("run_status", "ok") in COMPLETE
        and r.get("status") == "ok"
    )


def _settle(rows: list[dict[str, Any]]) -> None:
    """Set `counted`, `repeat_of` and `replaced_by` of every row (see `collect`)."""
    eligible = sorted(
        (r for r in rows if _eligible(r)),
        key=lambda r: str(r.get("finished") or ""),
        reverse=True,  # the newest result of a seed stream is the one counted
    )
    kept: dict[tuple, dict[str, Any]] = {}
    for r in eligible:
        key = _streams(r)[0] if r.get("seed") is not None else (id(r),)
        if key in kept:
            r["counted"], r["repeat_of"] = False, kept[key]["job"]
        else:
            r["counted"], kept[key] = True, r
    for r in rows:
        r.setdefault("counted", False)
        if r["counted"] or r.get("repeat_of"):
            continue
        by = {kept[k]["job"] for k in _streams(r) if k in kept}
        if by and all(k in kept for k in _streams(r)) and r["job"] not in by:
            r["replaced_by"] = ", ".join(sorted(by))


def to_csv(rows: list[dict[str, Any]]) -> str:
    return csv_text(rows)


def _stats(values: list[float]) -> tuple[float, float, int] | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None
    mean = sum(v) / len(v)
    var = sum((x - mean) ** 2 for x in v) / (len(v) - 1) if len(v) > 1 else 0.0
    return mean, math.sqrt(var), len(v)


def _interval(
    s: tuple[float, float, int], metric: str = HEADLINE
) -> list[float] | None:
    """95 % interval of the mean over seeds within the metric's range, as in
    metrics.json (`artifacts.t_interval`)."""
    from .metrics import METRIC_RANGES

    lo, hi = METRIC_RANGES[metric]
    return t_interval(*s, (lo, math.inf if hi is None else hi))


def _label(metric: str) -> str:
    """A metric's name in words (`metrics.METRIC_LABELS`)."""
    from .metrics import METRIC_LABELS

    return METRIC_LABELS.get(metric, metric)


@dataclass(frozen=True)
class Place:
    """Where a configuration's cell sits: section (heading), row, column."""

    section: str
    section_key: tuple
    row: str
    row_key: tuple
    column: str
    column_key: tuple
    row_title: str = "budget"


def _sortable(value: Any) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _layout(rows: list[dict[str, Any]]) -> dict[str, Place]:
    """The place of each configuration (identity) that has results.

    Keys that differ between the configurations become labels: the model preset
    (Hydra's choice, e.g. `vae_original`) and the `model.*` keys that differ
    between jobs of the same preset label the columns; `budget.params` and, when
    it differs, `train.steps` the rows; the target (its choice, and `target.*`
    keys that differ within it), the bins and every other differing key the
    section. Two configurations never share a cell.
    """
    reps: dict[str, dict[str, Any]] = {}
    for r in rows:
        if "model" in r:
            reps.setdefault(_identity_of(r), r)
    ids = list(reps)
    cfgs = {
        i: {k[7:]: v for k, v in reps[i].items() if k[:7] == "config."} for i in ids
    }

    def differ(members: list[str], key: str) -> bool:
        return len({cfgs[j].get(key) for j in members}) > 1

    varying = [
        k for k in sorted({k for c in cfgs.values() for k in c}) if differ(ids, k)
    ]
    model = {i: str(reps[i].get("choice.model") or reps[i]["model"]) for i in ids}
    target = {i: str(reps[i].get("choice.target") or reps[i]["target"]) for i in ids}
    steps_vary = len({reps[i].get("steps") for i in ids}) > 1
    axes = ("budget.params", "train.steps", "bins.n")
    other = [
        k for k in varying if not k.startswith(("model.", "target.")) and k not in axes
    ]

    def within(prefix: str, names: dict[str, str], i: str) -> list[str]:
        same = [j for j in ids if names[j] == names[i]]
        return [k for k in varying if k.startswith(prefix) and differ(same, k)]

    places: dict[str, Place] = {}
    for i in ids:
        r, c = reps[i], cfgs[i]
        model_keys = within("model.", model, i)
        target_keys = within("target.", target, i)
        mode = "continuous" if r["bins"] == 0 else f"{r['bins']} bins"
        section = ", ".join(
            [target[i], mode]
            + [f"{k[7:]}={c.get(k)}" for k in target_keys]
            + [f"{k}={c.get(k)}" for k in other]
        )
        steps = r.get("steps")
        places[i] = Place(
            section=section,
            section_key=(target[i], r["bins"], section),
            row=f"{r['budget']}" + (f", {steps} steps" if steps_vary else ""),
            row_key=(_sortable(r["budget"]), _sortable(steps)),
            column=" ".join([model[i]] + [f"{k[6:]}={c.get(k)}" for k in model_keys]),
            column_key=(model[i], *(_sortable(c.get(k)) for k in model_keys)),
            row_title="budget, steps" if steps_vary else "budget",
        )
    # A safeguard: labels that fail to tell two configurations apart get the hash.
    cells: dict[tuple, list[str]] = defaultdict(list)
    for i, p in places.items():
        cells[(p.section, p.row, p.column)].append(i)
    for members in cells.values():
        if len(members) > 1:
            for i in members:
                p = places[i]
                places[i] = dataclasses.replace(
                    p, column=f"{p.column} #{i[:6]}", column_key=(*p.column_key, i)
                )
    return places


def _settled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with `counted` set (rows built by hand may not have it)."""
    if all("counted" in r for r in rows):
        return rows
    rows = [dict(r) for r in rows]
    _settle(rows)
    return rows


def _table(rows: list[dict[str, Any]], metric: str):
    """section -> (rows, columns, values[(row, column)], floors[row]) in order."""
    places = _layout(rows)
    sections: dict[str, dict[str, Any]] = {}
    for p in sorted(places.values(), key=lambda p: p.section_key):
        sec = sections.setdefault(
            p.section,
            {
                "rows": {},
                "columns": {},
                "values": defaultdict(list),
                "floors": {},
                "row_title": p.row_title,
            },
        )
        sec["rows"][p.row] = p.row_key
        sec["columns"][p.column] = p.column_key
    for r in rows:
        if not r["counted"]:
            continue
        p = places[_identity_of(r)]
        sec = sections[p.section]
        sec["values"][(p.row, p.column)].append(r.get(metric))
        if r.get(f"{metric}_floor") is not None:
            sec["floors"].setdefault(p.row, []).append(r[f"{metric}_floor"])
    for sec in sections.values():
        sec["rows"] = sorted(sec["rows"], key=sec["rows"].get)
        sec["columns"] = sorted(sec["columns"], key=sec["columns"].get)
    return sections, places


def _cell(s, ci, best: bool, overlaps: bool) -> str:
    text = f"{s[0]:.4f} ± {s[1]:.4f}"
    if ci:
        text += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
    text += f" ({s[2]})"
    if best:
        return f"**{text}**"
    return f"≈ {text}" if overlaps else text


def to_markdown(rows: list[dict[str, Any]], metric: str = HEADLINE) -> str:
    """Metric per configuration: a section per target, bins and other differing
    keys, a row per budget (and step count), a column per model preset.

    Cells: mean ± std [95 % t-interval] (n seeds) over the counted seeds of one
    configuration; the best of a row in bold, `≈` where a cell's interval
    overlaps the best one's. Then the jobs that are not ok and the repeats.
    """
    rows = _settled(rows)
    out = [
        f"# genbench summary: {metric}\n",
        "Cells: mean ± std over seeds [95 % t-interval] (n seeds) of one "
        "configuration. **Bold**: the "
        "lowest mean of the row; ≈: its interval overlaps the best one's, so these "
        "seeds do not resolve the difference. Floor: the metric for true samples (a "
        "perfect model) with the same number of evaluation samples. Only finished "
        "jobs' seeds that did not diverge enter a cell, each configuration and "
        "seed once.",
    ]
    sections, _ = _table(rows, metric)
    for section, sec in sections.items():
        columns = sec["columns"]
        out.append(f"\n## {section}\n")
        out.append(f"| {sec['row_title']} | " + " | ".join(columns) + " | floor |")
        out.append("|---|" + "---|" * (len(columns) + 1))
        for row in sec["rows"]:
            stats = {c: _stats(sec["values"].get((row, c), [])) for c in columns}
            ranked = [c for c in columns if stats[c] is not None]
            best = min(ranked, key=lambda c: stats[c][0]) if ranked else None
            best_ci = _interval(stats[best], metric) if best else None
            cells = []
            for column in columns:
                s = stats[column]
                if s is None:
                    cells.append("—")
                    continue
                ci = _interval(s, metric)
                overlaps = bool(
                    ci and best_ci and ci[0] <= best_ci[1] and best_ci[0] <= ci[1]
                )
                cells.append(_cell(s, ci, column == best, overlaps))
            floors = sec["floors"].get(row, [])
            floor = f"{sum(floors) / len(floors):.4f}" if floors else "—"
            out.append(f"| {row} | " + " | ".join(cells) + f" | {floor} |")
    out += _not_ok(rows)
    out += _repeats(rows)
    return "\n".join(out) + "\n"


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """`text` as LaTeX prints it literally (the ten special characters escaped)."""
    return "".join(LATEX_SPECIALS.get(c, c) for c in str(text))


def to_latex(rows: list[dict[str, Any]], metric: str = HEADLINE) -> str:
    """The summary as one booktabs table (`\\usepackage{booktabs}`), for a paper.

    A row per row of `to_markdown` (budget, and steps where they differ), under
    a heading row per section; a column per model preset of any section, then
    the floor. Cells: the mean over the counted seeds with its 95 % t-interval
    (`[lo, hi]`, absent for one seed); the lowest mean of each row in bold.
    Labels are escaped (`latex_escape`).
    """
    rows = _settled(rows)
    sections, places = _table(rows, metric)
    keys = {p.column: p.column_key for p in places.values()}
    columns = sorted(
        {c for sec in sections.values() for c in sec["columns"]}, key=keys.get
    )
    # one row title for all sections (`_layout` decides it over all of them)
    title = next((sec["row_title"] for sec in sections.values()), "budget")
    label = _label(metric).replace("‖", "||")
    n = len(columns) + 2
    out = [
        f"% genbench summary: {latex_escape(label)}, mean [95 % t-interval] over "
        "seeds; bold: the lowest mean of the row. Needs \\usepackage{booktabs}.",
        "\\begin{tabular}{l" + "r" * (len(columns) + 1) + "}",
        "\\toprule",
        " & ".join(latex_escape(x) for x in [title, *columns, "floor"]) + " \\\\",
    ]
    for section, sec in sections.items():
        out.append("\\midrule")
        heading = f"\\emph{{{latex_escape(section)}}}"
        out.append(f"\\multicolumn{{{n}}}{{l}}{{{heading}}} \\\\")
        for row in sec["rows"]:
            stats = {c: _stats(sec["values"].get((row, c), [])) for c in columns}
            ranked = [c for c in columns if stats[c] is not None]
            best = min(ranked, key=lambda c: stats[c][0]) if ranked else None
            cells = [latex_escape(row)]
            for column in columns:
                s = stats[column]
                if s is None:
                    cells.append("--")
                    continue
                ci = _interval(s, metric)
                text = f"{s[0]:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
                cells.append(f"\\textbf{{{text}}}" if column == best else text)
            floors = sec["floors"].get(row, [])
            cells.append(f"{sum(floors) / len(floors):.4f}" if floors else "--")
            out.append(" & ".join(cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


def _by_job(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    jobs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        jobs[r["job"]].append(r)
    return jobs


def _job_status(first: dict[str, Any]) -> str:
    return str(first.get("run_status", first.get("status")))


def _not_ok(rows: list[dict[str, Any]]) -> list[str]:
    """Jobs that did not finish (none of their seeds counted) and seeds that
    diverged, one line per job."""
    lines = []
    for job, members in _by_job(rows).items():
        first = members[0]
        status = _job_status(first)
        if status == "duplicate" and first.get("replaced_by"):
            continue  # a repeat of a complete job: listed under Repeats
        if status == "ok" and all(r.get("status") == "ok" for r in members):
            continue
        if "steps" in first:
            done = f"{first.get('steps_done', first['steps'])} of {first['steps']}"
        else:
            done = "—"
        if "model" in first:
            seeds = ", ".join(
                f"{r['seed']}"
                + (
                    f" diverged at step {r['diverged_step']}"
                    if "diverged_step" in r
                    else ""
                )
                for r in members
                if not r["counted"] and not r.get("repeat_of")
            )
        else:
            seeds = "—"
        notes = []
        if status in FAILED_STATUSES or status == "duplicate":
            notes.append("not counted")
        elif status == "partial":
            notes.append("its other seeds are counted")
        if first.get("error"):
            notes.append(str(first["error"]).splitlines()[0])
        if status == "missing":
            notes.append("no metrics.json")
        if status == "duplicate":
            notes.append(f"a repeat of {first.get('same_as')}, which has no result")
        replaced = sorted({r["replaced_by"] for r in members if r.get("replaced_by")})
        if replaced:
            notes.append(
                "the same configuration and seeds are counted from "
                + "; ".join(replaced)
            )
        lines.append(f"| {job} | {status} | {done} | {seeds} | {'; '.join(notes)} |")
    if not lines:
        return []
    return [
        "\n## Not ok\n",
        "| job | status | steps done | seeds not counted | note |",
        "|---|---|---|---|---|",
        *lines,
    ]


def _repeats(rows: list[dict[str, Any]]) -> list[str]:
    """Results of a configuration and seed that were already counted elsewhere."""
    lines = []
    for job, members in _by_job(rows).items():
        first = members[0]
        if first.get("status") == "duplicate" and first.get("replaced_by"):
            lines.append(f"| {job} | skipped by resume | {first['replaced_by']} |")
            continue
        repeats = [r for r in members if r.get("repeat_of")]
        if repeats:
            seeds = ", ".join(str(r["seed"]) for r in repeats)
            where = "; ".join(sorted({r["repeat_of"] for r in repeats}))
            lines.append(f"| {job} | seeds {seeds} | {where} |")
    if not lines:
        return []
    return [
        "\n## Repeats (counted once)\n",
        "| job | what | counted from |",
        "|---|---|---|",
        *lines,
    ]


def plot_budget(
    rows: list[dict[str, Any]], path: Path, metric: str = HEADLINE
) -> dict[str, list[str]]:
    """Metric vs budget (log axes, error bars: std over seeds), a panel per section
    of the summary, a line per column (and step count, where steps differ).
    Returns the lines drawn in each panel."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save

    rows = _settled(rows)
    places = _layout(rows)
    if not places:
        return {}
    points: dict[str, dict[str, dict[Any, list]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    order = {}
    for r in rows:
        if r["counted"]:
            p = places[_identity_of(r)]
            steps = f", {r['steps']} steps" if "steps" in p.row_title else ""
            points[p.section][p.column + steps][r["budget"]].append(r.get(metric))
    for p in places.values():
        order.setdefault(p.section, p.section_key)
    sections = sorted(order, key=order.get)
    n_cols = min(3, len(sections))
    n_rows = -(-len(sections) // n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        figsize=(4.6 * n_cols, 3.6 * n_rows),
        layout="constrained",
    )
    for ax in axes.flat[len(sections) :]:
        ax.set_axis_off()
    for ax, section in zip(axes.flat, sections, strict=False):
        budgets = set()
        for line, per_budget in sorted(points[section].items()):
            xs, ys, es = [], [], []
            for budget in sorted(per_budget):
                s = _stats(per_budget[budget])
                if s is not None:
                    xs.append(budget)
                    ys.append(s[0])
                    es.append(s[1])
            budgets.update(xs)
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=line)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sorted(budgets), [str(b) for b in sorted(budgets)])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(section, fontsize=9, wrap=True)
        ax.set_xlabel("parameter budget")
        ax.set_ylabel(_label(metric))
        ax.grid(alpha=0.3, which="both")
        if points[section]:
            ax.legend(fontsize=7, frameon=False)
    _save(fig, path)
    return {section: sorted(points[section]) for section in sections}


def plot_steps(
    rows: list[dict[str, Any]], path: Path, metric: str = HEADLINE
) -> dict[str, list[str]]:
    """The training-budget axis: metric against training steps, training seconds
    and training FLOPs per seed, a line per column (and budget, where budgets
    differ) with its 95 % interval over seeds as a band; a row of panels per
    section. Each point is its own run of that many steps (the schedules decay
    over `train.steps`). Drawn only when step counts differ; returns the lines
    drawn in each section."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save

    rows = _settled(rows)
    places = _layout(rows)
    if len({r.get("steps") for r in rows if r.get("counted")}) < 2:
        return {}
    # section -> line -> steps -> {"values": [...], "seconds": [...], "flops": [...]}
    points: dict[str, dict[str, dict[int, dict[str, list]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    )
    order = {}
    budgets: dict[str, set] = defaultdict(set)
    floors: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["counted"]:
            budgets[places[_identity_of(r)].section].add(r["budget"])
    for r in rows:
        if not r["counted"]:
            continue
        p = places[_identity_of(r)]
        several = len(budgets[p.section]) > 1
        line = p.column + (f", budget {r['budget']}" if several else "")
        point = points[p.section][line][int(r["steps"])]
        point["values"].append(r.get(metric))
        point["seconds"].append(r.get("time.train_seconds"))
        if r.get("flops_per_step") is not None:
            point["flops"].append(r["flops_per_step"] * r["steps"])
        order.setdefault(p.section, p.section_key)
        if r.get(f"{metric}_floor") is not None:
            floors[p.section].append(r[f"{metric}_floor"])
    sections = sorted(order, key=order.get)
    axes_x = [
        ("steps", "training steps"),
        ("seconds", "training seconds (all seeds of a run)"),
        ("flops", "training FLOPs per seed (XLA cost analysis)"),
    ]
    fig, axes = plt.subplots(
        len(sections),
        len(axes_x),
        squeeze=False,
        figsize=(4.4 * len(axes_x), 3.5 * len(sections)),
        layout="constrained",
    )
    for row_axes, section in zip(axes, sections, strict=True):
        for ax, (kind, label) in zip(row_axes, axes_x, strict=True):
            for line, per_steps in sorted(points[section].items()):
                xs, ys, los, his = [], [], [], []
                for steps in sorted(per_steps):
                    point = per_steps[steps]
                    stat = _stats(point["values"])
                    if stat is None:
                        continue
                    if kind == "steps":
                        x = steps
                    else:
                        known = [v for v in point[kind] if v is not None]
                        if not known:
                            continue
                        x = sum(known) / len(known)
                    ci = _interval(stat, metric) or (stat[0], stat[0])
                    xs.append(x)
                    ys.append(stat[0])
                    los.append(ci[0])
                    his.append(ci[1])
                if not xs:
                    continue
                # An interval reaching 0 (few seeds) has no place on a log axis:
                # its band stops a decade below the line's lowest mean instead
                # of stretching the axis down to the clip value.
                positive = [v for v in ys if v > 0]
                bottom = min(positive) / 10 if positive else 1e-12
                los = [max(lo, bottom) for lo in los]
                (drawn,) = ax.plot(xs, ys, marker="o", ms=3, label=line)
                ax.fill_between(xs, los, his, color=drawn.get_color(), alpha=0.2)
            if floors[section] and ax.lines:
                # The score of a perfect model with as many samples: below it
                # differences are sampling noise.
                floor = sum(floors[section]) / len(floors[section])
                ax.axhline(floor, color="0.5", ls="--", lw=1, label="noise floor")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel(f"{_label(metric)} (mean, 95 % band)")
            ax.grid(alpha=0.3, which="both")
            ax.set_title(section, fontsize=9)
            if ax.lines:
                ax.legend(fontsize=7, frameon=False)
    _save(fig, path)
    return {section: sorted(points[section]) for section in sections}


def _grid_of(job: Path):
    """The scoring grid and exact cell probabilities of a job, from its config."""
    from hydra.utils import instantiate

    from .encoding import make_encoding

    record = read_record(job) or {}
    if isinstance(record.get("config"), dict):
        cfg = OmegaConf.create(record["config"])
    else:
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
    target = instantiate(cfg.target, _convert_="all")
    encoding = make_encoding(target, cfg.bins.n, cfg.bins.decode)
    ev = target.evaluator(encoding, cfg.train.hist_bins)
    return target, ev.edges, ev.p


def _shown(rows: list[dict[str, Any]]) -> dict[str, tuple[Path, int, Any]]:
    """Per configuration, the counted seed drawn in the side-by-side figure:
    `(job folder, seed, its KL)`, the lowest counted seed whose samples exist."""
    shown: dict[str, tuple[Path, int, Any]] = {}
    for r in sorted(rows, key=lambda r: (r.get("seed") or 0, r["job"])):
        i = _identity_of(r)
        if r["counted"] and i not in shown and Path(r["job"], "samples.npz").exists():
            shown[i] = (Path(r["job"]), r["seed"], r.get("kl"))
    return shown


def plot_side_by_side(
    rows: list[dict[str, Any]], folder: Path
) -> dict[Path, list[str]]:
    """The original's comparison: target | each column of the summary, one figure
    per section, one row per budget (and step count): one counted seed's final
    samples per configuration. Returns each figure's columns."""
    import hashlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import COLORS, _density_panel, _save, density_image, scatter_panel

    rows = _settled(rows)
    sections, places = _table(rows, HEADLINE)
    shown = _shown(rows)
    where = {(p.section, p.row, p.column): i for i, p in places.items()}
    written: dict[Path, list[str]] = {}
    for section, sec in sections.items():
        cells = {k: where[(section, *k)] for k in sec["values"]}
        cells = {k: i for k, i in cells.items() if i in shown}
        row_labels = [r for r in sec["rows"] if any(k[0] == r for k in cells)]
        columns = [c for c in sec["columns"] if any(k[1] == c for k in cells)]
        if not row_labels:
            continue
        first = next(shown[cells[k]][0] for k in cells if k[0] == row_labels[0])
        if _grid_of(first)[1] is None:  # bit vectors: no grid (each job's patterns.png)
            continue
        fig, axes = plt.subplots(
            len(row_labels),
            len(columns) + 1,
            squeeze=False,
            sharex=True,
            sharey=True,
            figsize=(2.8 * (len(columns) + 1), 2.4 * len(row_labels) + 0.5),
            layout="constrained",
        )
        for i, row in enumerate(row_labels):
            first = next(shown[cells[k]][0] for k in cells if k[0] == row)
            target, edges, p = _grid_of(first)
            # 2D: the samples as points over the target's density (mode collapse)
            density = density_image(target) if target.dim == 2 else None
            panels = [("target", p)]
            for column in columns:
                if (row, column) not in cells:
                    panels.append((f"{column}: missing", None))
                    continue
                job, seed, value = shown[cells[(row, column)]]
                data = np.load(job / "samples.npz")
                x = data["samples"][list(data["seeds"]).index(seed)]
                if target.dim == 1:
                    q = np.histogram(x[:, 0], edges[0])[0] / len(x)
                else:
                    q = x
                label = f"{column}: KL {value:.3g}" if value is not None else column
                panels.append((label, q))
            for j, (title, cells_q) in enumerate(panels):
                ax = axes[i][j]
                ax.set_title(
                    f"{title}" + (f"  (budget {row})" if j == 0 else ""), fontsize=8
                )
                if cells_q is None:
                    ax.set_axis_off()
                    continue
                if target.dim == 1:
                    e = edges[0]
                    color = "0.5" if j == 0 else COLORS[(j - 1) % len(COLORS)]
                    ax.stairs(cells_q / np.diff(e), e, fill=True, color=color)
                elif j == 0:
                    _density_panel(ax, *density)
                else:
                    scatter_panel(ax, target, cells_q, density)
                ax.tick_params(labelsize=7)
        # shared axes: the first column and the last row carry the labels
        for ax in axes[:, 0]:
            ax.set_ylabel("density" if target.dim == 1 else "x₂", fontsize=8)
        for ax in axes[-1]:
            ax.set_xlabel("x" if target.dim == 1 else "x₁", fontsize=8)
        how = " (2D: samples over the target's density)" if target.dim == 2 else ""
        fig.suptitle(f"{section}: target | models (one seed each){how}", fontsize=10)
        target_name, bins, _ = next(
            p.section_key for p in places.values() if p.section == section
        )
        name = f"compare_{target_name}_{'cont' if bins == 0 else bins}"
        mode = "continuous" if bins == 0 else f"{bins} bins"
        if section != f"{target_name}, {mode}":  # other keys differ: keep apart
            name += "_" + hashlib.sha256(section.encode()).hexdigest()[:6]
        path = Path(folder) / f"{name}.png"
        _save(fig, path, dpi=100)
        written[path] = columns
    return written


def write_summary(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder = Path(folder)
    atomic_write(folder / "summary.csv", to_csv(rows))
    atomic_write(folder / "summary.md", to_markdown(rows))
    atomic_write(folder / "summary.tex", to_latex(rows))
    counted = [r for r in _settled(rows) if r.get("counted")]
    steps_vary = len({r["steps"] for r in counted}) > 1
    if not steps_vary or len({r["budget"] for r in counted}) > 1:
        plot_budget(rows, folder / "summary_budget.png")
    plot_steps(rows, folder / "summary_steps.png")
    plot_side_by_side(rows, folder)


FAILED_STATUSES = ("config_error", "error", "missing", "failed", "interrupted")


def failures(rows: list[dict[str, Any]]) -> list[str]:
    """The jobs whose run did not succeed (every seed diverged counts), unless
    other jobs of the same configuration hold all their seeds."""
    out = []
    for r in _settled(rows):
        status = r.get("run_status", r.get("status"))
        if r.get("replaced_by"):
            continue
        if status == "duplicate":  # its result is gone: as if it never ran
            status = "missing"
        line = f"{Path(r['job']).name}: {status}"
        if r.get("error"):
            line += f" ({r['error'].splitlines()[0]})"
        if status in FAILED_STATUSES and line not in out:
            out.append(line)
    return out


class SweepSummary(Callback):
    """Writes the summary of a multirun into its sweep folder when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        rows = collect([folder])
        write_summary(folder, rows)
        SESSION.sweep_failures = failures(rows)
        SESSION.sweep_dir = str(folder)
        print(f"genbench: sweep summary in {folder}/summary.md", file=sys.stderr)


# --- the console summary of one run ------------------------------------------


def _fmt(stat: dict, digits: int = 4) -> str:
    """`mean ± std [95 % interval], floor F (x times the floor)`."""
    if stat["mean"] is None:
        return "n/a (every seed diverged or ran away)"
    text = f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    if stat.get("ci95"):
        lo, hi = stat["ci95"]
        text += f"  95% CI [{lo:.{digits}f}, {hi:.{digits}f}]"
    floor = stat.get("floor")
    if floor is not None:
        ratio = f", {stat['mean'] / floor:.0f}x" if floor > 0 else ""
        text += f"  floor {floor:.{digits}f}{ratio}"
    return text


def _others(m: dict, total: int | None = None) -> str:
    """One line of the secondary metrics (means; modes as covered/total)."""
    names = [
        ("kl_reverse", "rKL"),
        ("js", "JS"),
        ("tv", "TV"),
        ("hellinger", "H"),
        ("mmd", "MMD²"),
        ("kl_compat", "KL16"),
    ]
    parts = [
        f"{label} {m[k]['mean']:.4f}" for k, label in names if m[k]["mean"] is not None
    ]
    if m["modes"]["mean"] is not None:
        parts.append(f"modes {m['modes']['mean']:.3g}/{total}")
        parts.append(f"far {m['far']['mean']:.4f}")
    return "  ".join(parts)


def _patterns(m: dict, p: dict) -> str | None:
    """Bit-vector targets: precision and coverage, with their floors."""
    if m.get("precision", {}).get("mean") is None:
        return None
    prec, cov = m["precision"], m["coverage"]

    def floor(stat):
        return "" if stat.get("floor") is None else f" (floor {stat['floor']:.4f})"

    return (
        f"  patterns precision {prec['mean']:.4f}{floor(prec)}  coverage "
        f"{cov['mean']:.4f} of {p['patterns_total']} in the first "
        f"{p['coverage_samples']} samples{floor(cov)}"
    )


def _mode(p: dict) -> str:
    if p["encoding"] == "binary":
        return "bit vectors, Bernoulli units"
    if p["encoding"] != "binned":
        return "continuous"
    return f"binned: {p['bins']} bins per axis, decode={p['decode']}"


def say(line: str) -> None:
    """One console line of the CLI, on stderr: `genbench: <line>`."""
    print(f"genbench: {line}", file=sys.stderr)


def compiling(spec, budget: int, scope: str) -> str:
    """The line before a run compiles (a cold start is silent for seconds)."""
    s = spec.settings
    return (
        f"compiling {spec.family.name} for {s.seeds} seed(s) on {spec.target.name} "
        f"(budget {budget} {scope}, H={spec.hidden})…"
    )


def run_summary(p: dict, out: Path) -> str:
    """The console summary of a run from its metrics.json `p` (see README)."""
    m, t = p["metrics"], p["timing"]
    bad = [s for s in p["seed_status"] if s["status"] != "ok"]
    lines = [
        f"genbench  {p['model']} on {p['target']}  ({_mode(p)})",
        f"  budget   {p['budget']['params']} ({p['budget']['scope']})"
        f" -> H={p['hidden']}"
        f"  ({p['n_params']} params; total {p['n_params_total']},"
        f" sampler {p['n_params_sampler']})",
        f"  trained  {len(p['seeds'])} seed(s) x {p['steps']} steps, batch "
        f"{p['batch_size']}; scored on {p['eval_samples']} samples per seed"
        f" (curves: {p['snapshot_eval_samples']})",
        f"  KL(P||Q) {_fmt(m['kl'])}   (per seed: "
        + ", ".join(
            "—" if v is None else f"{v:.4f}"
            for v in _finite_or_none(m["kl"]["per_seed"])
        )
        + ")",
        f"  W1       {_fmt(m['w1'])}",
        f"  others   {_others(m, p.get('modes_total'))}",
        *filter(None, [_patterns(m, p)]),
        f"  time     {t['wall_seconds']:.1f} s  (compile {t['compile_seconds']:.1f}, "
        f"train {t['train_seconds']:.1f}, eval {t['eval_seconds']:.1f})",
    ]
    diverged = [s for s in bad if s["status"] == "diverged"]
    if diverged:
        lines.append(
            "  diverged "
            + ", ".join(f"seed {s['seed']} at step {s['step']}" for s in diverged)
        )
    runaway = [s for s in bad if s["status"] == "runaway"]
    if runaway:
        lines.append("  runaway  " + ", ".join(_runaway(s) for s in runaway))
    if p["status"] == "interrupted":
        lines.append(
            f"  INTERRUPTED after {p['steps_done']} of {p['steps']} steps: "
            "metrics are from the last completed snapshot"
        )
    lines.append(f"  output   {out}")
    return "\n".join(lines)


def _runaway(s: dict) -> str:
    """`seed 1 at step 200 (lost 0.998)`, or the parameter that ran away."""
    from .train import PARAM_LIMIT

    if s.get("max_param") is not None:
        why = f"max |param| {s['max_param']:.2g} > {PARAM_LIMIT:.0e}"
    else:
        why = f"lost {s['lost']:.3f} of its samples"
    return f"seed {s['seed']} at step {s['step']} ({why}; metrics null)"


def _finite_or_none(values):
    return [None if not math.isfinite(v) else float(v) for v in values]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genbench.report",
        description="Summarise genbench runs and sweeps (any folders containing them).",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument(
        "--format",
        choices=("markdown", "csv", "json", "latex"),
        default="markdown",
        help="what to print (default markdown; latex: a booktabs table)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write summary.csv, summary.md, summary.tex and the figures here",
    )
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        parser.error(f"no such folder: {', '.join(missing)}")
    rows = collect(args.paths)
    if not rows:
        parser.error("no genbench runs found below " + ", ".join(map(str, args.paths)))
    if args.format == "csv":
        print(to_csv(rows), end="")
    elif args.format == "json":
        print(json.dumps(rows, indent=1, allow_nan=False, default=str))
    elif args.format == "latex":
        print(to_latex(rows), end="")
    else:
        print(to_markdown(rows), end="")
    if args.out:
        write_summary(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
