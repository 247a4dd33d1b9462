"""Tables and figures over runs and sweeps: `python -m genbench.report PATH...`.

Collects every `metrics.json` below the given folders (single runs, sweep job
folders, several sweeps together) into tidy rows, one per job per seed, and
writes `summary.csv`, `summary.md` and `summary_budget.png`. Job folders that
have a Hydra record but no `metrics.json` (a job that crashed or never ran) are
rows with status `missing`. A multirun writes the same files into its sweep
folder when it ends (`SweepSummary`, registered in `conf/config.yaml`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .artifacts import atomic_write, csv_text, t_interval

__all__ = ["collect", "to_csv", "to_markdown", "write_summary", "SweepSummary", "main"]

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


def collect(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """One row per job per seed (one row per job if it has no metrics)."""
    rows: list[dict[str, Any]] = []
    for folder in _job_folders(paths):
        base = {
            "job": str(folder),
            **{f"override.{k}": v for k, v in _overrides(folder).items()},
        }
        file = folder / "metrics.json"
        if not file.exists():
            rows.append({**base, "status": "missing"})
            continue
        m = json.loads(file.read_text())
        if "metrics" not in m:  # a job that raised: status and message only
            rows.append(
                {**base, "status": m.get("status", "error"), "error": m.get("error")}
            )
            continue
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
            "modes_total": m.get("modes_total"),
            "run_status": m["status"],
            **{f"time.{k}": v for k, v in m["timing"].items()},
        }
        for i, seed in enumerate(m["seeds"]):
            row = {**common, "seed": seed, "status": m["seed_status"][i]["status"]}
            for name, stat in m["metrics"].items():
                row[name] = stat["per_seed"][i]
                row[f"{name}_floor"] = stat.get("floor")
            rows.append(row)
    return rows


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


def _groups(rows, metric: str = HEADLINE):
    table: dict[tuple, dict[tuple, dict[str, list]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for r in rows:
        if "model" not in r:
            continue
        cell = table[(r["target"], r["bins"])][(r["budget"],)]
        cell[r["model"]].append(r.get(metric))
        if r.get(f"{metric}_floor") is not None:
            cell["__floor__"].append(r[f"{metric}_floor"])
    return table


def _cell(s, ci, best: bool, overlaps: bool) -> str:
    text = f"{s[0]:.4f} ± {s[1]:.4f}"
    if ci:
        text += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
    text += f" ({s[2]})"
    if best:
        return f"**{text}**"
    return f"≈ {text}" if overlaps else text


def to_markdown(rows: list[dict[str, Any]], metric: str = HEADLINE) -> str:
    """Metric by target and bins, models side by side, with the noise floor.

    Cells: mean ± std [95 % t-interval] (n seeds); the best model of a row in
    bold, `≈` where a model's interval overlaps the best one's.
    """
    out = [
        f"# genbench summary: {metric}\n",
        "Cells: mean ± std over seeds [95 % t-interval] (n seeds). **Bold**: the "
        "lowest mean of the row; ≈: its interval overlaps the best one's, so these "
        "seeds do not resolve the difference. Floor: the metric for true samples (a "
        "perfect model) with the same number of evaluation samples.",
    ]
    models = sorted({r["model"] for r in rows if "model" in r})
    for (target, bins), by_budget in sorted(_groups(rows, metric).items()):
        mode = "continuous" if bins == 0 else f"{bins} bins"
        out.append(f"\n## {target}, {mode}\n")
        out.append("| budget | " + " | ".join(models) + " | floor |")
        out.append("|---|" + "---|" * (len(models) + 1))
        for (budget,), per_model in sorted(by_budget.items()):
            stats = {m: _stats(per_model.get(m, [])) for m in models}
            ranked = [m for m in models if stats[m] is not None]
            best = min(ranked, key=lambda m: stats[m][0]) if ranked else None
            best_ci = _interval(stats[best], metric) if best else None
            cells = []
            for model in models:
                s = stats[model]
                if s is None:
                    cells.append("—")
                    continue
                ci = _interval(s, metric)
                overlaps = bool(
                    ci and best_ci and ci[0] <= best_ci[1] and best_ci[0] <= ci[1]
                )
                cells.append(_cell(s, ci, model == best, overlaps))
            floors = per_model.get("__floor__", [])
            floor = f"{sum(floors) / len(floors):.4f}" if floors else "—"
            out.append(f"| {budget} | " + " | ".join(cells) + f" | {floor} |")
    bad = [r for r in rows if r.get("status") not in ("ok",)]
    if bad:
        out.append("\n## Not ok\n")
        out.append("| job | seed | status | error |")
        out.append("|---|---|---|---|")
        for r in bad:
            out.append(
                f"| {r['job']} | {r.get('seed', '')} | {r['status']} | "
                f"{(r.get('error') or '').splitlines()[0] if r.get('error') else ''} |"
            )
    return "\n".join(out) + "\n"


def plot_budget(rows: list[dict[str, Any]], path: Path, metric: str = HEADLINE) -> None:
    """Metric vs budget per model (log x, error bars over seeds), a panel per bins."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save

    rows = [r for r in rows if "model" in r]
    if not rows:
        return
    bins_values = sorted({r["bins"] for r in rows})
    targets = sorted({r["target"] for r in rows})
    fig, axes = plt.subplots(
        len(targets),
        len(bins_values),
        squeeze=False,
        figsize=(4.2 * len(bins_values), 3.4 * len(targets)),
        layout="constrained",
    )
    for ti, target in enumerate(targets):
        for bi, bins in enumerate(bins_values):
            ax = axes[ti][bi]
            sub = [r for r in rows if r["target"] == target and r["bins"] == bins]
            for model in sorted({r["model"] for r in sub}):
                pts = defaultdict(list)
                for r in sub:
                    if r["model"] == model:
                        pts[r["budget"]].append(r.get(metric))
                xs, ys, es = [], [], []
                for budget in sorted(pts):
                    s = _stats(pts[budget])
                    if s is not None:
                        xs.append(budget)
                        ys.append(s[0])
                        es.append(s[1])
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=model)
            ax.set_xscale("log")
            ax.set_yscale("log")
            budgets = sorted({r["budget"] for r in sub})
            ax.set_xticks(budgets, [str(b) for b in budgets])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            mode = "continuous" if bins == 0 else f"{bins} bins"
            ax.set_title(f"{target}, {mode}", fontsize=10)
            ax.set_xlabel("parameter budget")
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8, frameon=False)
    _save(fig, path)


def _grid_of(job: Path):
    """The scoring grid and exact cell probabilities of a job, from its config."""
    from hydra.utils import instantiate

    from .encoding import make_encoding
    from .train import Evaluator

    cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
    target = instantiate(cfg.target, _convert_="all")
    encoding = make_encoding(target, cfg.bins.n, cfg.bins.decode)
    ev = Evaluator(target, encoding, cfg.train.hist_bins)
    return target, ev.edges, ev.p


def plot_side_by_side(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """The original's comparison: target | each model, one figure per target and
    bins value, one row per budget (first seed's final samples)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import COLORS, _save

    jobs: dict[tuple, dict[int, dict[str, Path]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in rows:
        if "model" in r and Path(r["job"], "samples.npz").exists():
            jobs[(r["target"], r["bins"])][r["budget"]][r["model"]] = Path(r["job"])
    written = []
    for (target_name, bins), by_budget in sorted(jobs.items()):
        models = sorted({m for per in by_budget.values() for m in per})
        budgets = sorted(by_budget)
        fig, axes = plt.subplots(
            len(budgets),
            len(models) + 1,
            squeeze=False,
            sharex=True,
            sharey=True,
            figsize=(2.8 * (len(models) + 1), 2.4 * len(budgets) + 0.5),
            layout="constrained",
        )
        for i, budget in enumerate(budgets):
            first = next(iter(by_budget[budget].values()))
            target, edges, p = _grid_of(first)
            panels = [("target", p)]
            for model in models:
                job = by_budget[budget].get(model)
                if job is None:
                    panels.append((f"{model}: missing", None))
                    continue
                x = np.load(job / "samples.npz")["samples"][0]
                if target.dim == 1:
                    q = np.histogram(x[:, 0], edges[0])[0] / len(x)
                else:
                    q = np.histogram2d(x[:, 0], x[:, 1], edges)[0] / len(x)
                kl = json.loads((job / "metrics.json").read_text())["metrics"]["kl"]
                value = kl["per_seed"][0]
                label = f"{model}: KL {value:.3g}" if value is not None else model
                panels.append((label, q))
            for j, (title, cells) in enumerate(panels):
                ax = axes[i][j]
                ax.set_title(
                    f"{title}" + (f"  (budget {budget})" if j == 0 else ""), fontsize=8
                )
                if cells is None:
                    ax.set_axis_off()
                    continue
                if target.dim == 1:
                    e = edges[0]
                    color = "0.5" if j == 0 else COLORS[(j - 1) % len(COLORS)]
                    ax.stairs(cells / np.diff(e), e, fill=True, color=color)
                else:
                    area = np.outer(np.diff(edges[0]), np.diff(edges[1]))
                    ax.pcolormesh(
                        edges[0],
                        edges[1],
                        (cells / area).T,
                        cmap="viridis",
                        vmin=0,
                        vmax=(p / area).max(),
                    )
                ax.tick_params(labelsize=7)
        mode = "continuous" if bins == 0 else f"{bins} bins"
        fig.suptitle(f"{target_name}, {mode}: target | models (seed 0)", fontsize=10)
        path = (
            Path(folder) / f"compare_{target_name}_{'cont' if bins == 0 else bins}.png"
        )
        _save(fig, path, dpi=100)
        written.append(path)
    return written


def write_summary(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder = Path(folder)
    atomic_write(folder / "summary.csv", to_csv(rows))
    atomic_write(folder / "summary.md", to_markdown(rows))
    plot_budget(rows, folder / "summary_budget.png")
    plot_side_by_side(rows, folder)


# Jobs of the last multirun of this process that did not succeed, as
# "job folder: status" (filled by SweepSummary; read by `run.cli` for the exit
# code, since launchers may run jobs in other processes).
SWEEP_FAILURES: list[str] = []
FAILED_STATUSES = ("config_error", "error", "missing", "failed", "interrupted")


def failures(rows: list[dict[str, Any]]) -> list[str]:
    """The jobs whose run did not succeed (every seed diverged counts)."""
    out = []
    for r in rows:
        status = r.get("run_status", r.get("status"))
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
        SWEEP_FAILURES[:] = failures(rows)
        print(f"genbench: sweep summary in {folder}/summary.md", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genbench.report",
        description="Summarise genbench runs and sweeps (any folders containing them).",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument(
        "--format",
        choices=("markdown", "csv", "json"),
        default="markdown",
        help="what to print (default markdown)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write summary.csv, summary.md and the figure here",
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
    else:
        print(to_markdown(rows), end="")
    if args.out:
        write_summary(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
