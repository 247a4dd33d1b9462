"""Section 3, scaling: trainer seed-steps per second against seeds and budget.

Each point also gets the FLOPs of one step of one seed, as XLA's cost analysis
of the family's lowered step counts them (`AbstractFamily.step_flops`: matrix
products and elementwise work), and their rate as a share of a measured
1024 x 1024 float32 matmul.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr

from .common import BenchSettings, format_number, format_stat, scale_stat, summarise
from .trainer import TrainerBench, describe_point


def measure_matmul_rate(size: int, repeats: int, seconds: float) -> dict[str, Any]:
    """GFLOP/s of a jitted (size x size) @ (size x size) float32 product."""
    a = jr.normal(jr.key(1), (size, size), jnp.float32)
    b = jr.normal(jr.key(2), (size, size), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    t0 = time.perf_counter()
    matmul(a, b).block_until_ready()
    n_calls = max(3, round(seconds / max(time.perf_counter() - t0, 1e-6)))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_calls):
            matmul(a, b).block_until_ready()
        rates.append(2 * size**3 * n_calls / (time.perf_counter() - t0) / 1e9)
    return summarise(rates)


def measure_scaling(
    settings: BenchSettings, bench: TrainerBench
) -> dict[str, list[dict[str, Any]]]:
    """Trainer rate against seeds (at `budget`) and against budget."""
    seeds_rows, budget_rows = [], []
    for model in settings.models:
        guess = next(
            (
                p.rate()["median"]
                for (m, *_), p in bench.points.items()
                if m == model and p.runs
            ),
            1000.0,
        )
        for n_seeds in sorted(settings.curve_seeds):
            point = bench.measure(model, settings.budget, n_seeds, guess)
            guess = point.rate()["median"]
            seeds_rows.append(describe_point(point))
        near = bench.points.get(
            (model, settings.budget, settings.budget_seeds, None, 0)
        )
        guess = near.rate()["median"] if near else guess
        for budget in sorted(settings.curve_budgets):
            point = bench.measure(model, budget, settings.budget_seeds, guess)
            guess = point.rate()["median"]
            budget_rows.append(describe_point(point))
    return {"seeds": seeds_rows, "budget": budget_rows}


def add_flop_rates(rows: list[dict[str, Any]], peak: dict[str, Any] | None) -> None:
    """GFLOP/s and % of the matmul rate of each scaling row, in place."""
    for row in rows:
        gflops = scale_stat(row["seed_steps_per_s"], row["flops_per_seed_step"] / 1e9)
        row["gflops"] = gflops
        if peak is not None:
            row["percent_of_matmul"] = scale_stat(gflops, 100 / peak["median"])


def plot_scaling(results: dict[str, Any], settings: BenchSettings, path: Path) -> None:
    """Two log-log panels: seed-steps/s against seeds and against budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    scaling = results["scaling"]
    fig, (ax_s, ax_b) = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    colours = dict(zip(settings.models, plt.cm.tab10.colors, strict=False))

    def draw(ax: Any, rows: list[dict], x_key: str, model: str, label: str) -> None:
        rows = sorted((r for r in rows if r["model"] == model), key=lambda r: r[x_key])
        if not rows:
            return
        x = [r[x_key] for r in rows]
        st = [r["seed_steps_per_s"] for r in rows]
        med = [s["median"] for s in st]
        low = [m - s["min"] for m, s in zip(med, st, strict=True)]
        high = [s["max"] - m for m, s in zip(med, st, strict=True)]
        err = [low, high]
        ax.errorbar(
            x, med, yerr=err, marker="o", capsize=3, color=colours[model], label=label
        )

    for model in settings.models:
        hid = {r["hidden"] for r in scaling["seeds"] if r["model"] == model}
        label = f"{model.upper()} (H={min(hid)})" if hid else model.upper()
        draw(ax_s, scaling["seeds"], "seeds", model, label)
        draw(ax_b, scaling["budget"], "budget", model, model.upper())
    loop_markers = (
        ("original", "s", "original loop (filter_jit)"),
        ("jit", "^", "jit loop, keys on device"),
    )
    for name, marker, _ in loop_markers:
        for row in results.get("compare", []):
            ax_s.plot(
                row["seeds"],
                row[name]["seed_steps_per_s"]["median"],
                marker=marker,
                mfc="none",
                ls="none",
                color=colours[row["model"]],
            )
    if results.get("compare"):
        for _, marker, label in loop_markers:
            ax_s.plot(
                [],
                [],
                marker=marker,
                mfc="none",
                ls="none",
                color="0.4",
                label=f"{label}, same model",
            )
    # H labels: at each budget, stacked in the order of the points (highest on
    # top), so that models with close speeds do not print over each other
    by_budget: dict[int, list[dict[str, Any]]] = {}
    for row in scaling["budget"]:
        by_budget.setdefault(row["budget"], []).append(row)
    for budget, rows in by_budget.items():
        rows.sort(key=lambda r: -r["seed_steps_per_s"]["median"])
        for rank, row in enumerate(rows):
            ax_b.annotate(
                f"H={row['hidden']}",
                (budget, row["seed_steps_per_s"]["median"]),
                textcoords="offset points",
                xytext=(8, 9 * ((len(rows) - 1) / 2 - rank)),
                va="center",
                fontsize=7,
                color=colours[row["model"]],
            )
    seeds = sorted({r["seeds"] for r in scaling["seeds"]})
    budgets = sorted({r["budget"] for r in scaling["budget"]})
    for ax, ticks in ((ax_s, seeds), (ax_b, budgets)):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        # labels at 1, 2, 5 x 10^k: a narrow log range otherwise shows none
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(ticker.LogLocator(subs="all"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
        ax.set_ylabel("seed-steps / s (compile excluded)")
    # below the panel: inside, it would hide the loops' markers at 8 seeds
    ax_s.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax_b.legend(fontsize=8)
    devices = max((r.get("devices", 1) for r in scaling["seeds"]), default=1)
    ax_s.set_xlabel(
        "seeds trained together (vmap"
        + (f"; from 2 seeds on split across {devices} cores)" if devices > 1 else ")")
    )
    ax_s.set_title(f"against seeds: budget {settings.budget}")
    ax_b.set_xlabel("parameter budget (total)")
    ax_b.set_title(f"against budget: {settings.budget_seeds} seed(s)")
    fig.suptitle(
        f"genbench trainer, {settings.target}, batch {settings.batch_size}, "
        f"{os.cpu_count()} CPU cores; median of {settings.repeats} repeat(s), "
        "bars min–max",
        fontsize=10,
    )
    fig.savefig(path, dpi=130)
    plt.close(fig)


def markdown(results: dict[str, Any], settings: BenchSettings) -> list[str]:
    """The section's tables in bench.md."""
    scaling = results["scaling"]
    lines = [
        "",
        "## 3. Scaling",
        "",
        "MFLOP: FLOPs of one step of one seed, as XLA's cost analysis of the "
        "family's lowered step counts them (`AbstractFamily.step_flops`: matrix "
        "products and elementwise work). % of matmul: achieved GFLOP/s over the "
        "median measured matmul rate above.",
    ]
    header = (
        "| model | {x} | H | devices | steps | seed-steps/s | compile, s "
        "| MFLOP/step | GFLOP/s | % of matmul |"
    )
    for key, x in (("seeds", "seeds"), ("budget", "budget")):
        title = (
            f"Against seeds (budget {settings.budget})"
            if key == "seeds"
            else f"Against budget ({settings.budget_seeds} seed(s))"
        )
        lines += ["", f"### {title}", "", header.format(x=x)]
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in scaling[key]:
            steps = "/".join(str(s) for s in sorted(set(r["steps"])))
            lines.append(
                f"| {r['model'].upper()} | {r[x]} | {r['hidden']} "
                f"| {r.get('devices', 1)} | {steps} "
                f"| {format_stat(r['seed_steps_per_s'])} "
                f"| {format_stat(r['compile_seconds'])} "
                f"| {format_number(r['flops_per_seed_step'] / 1e6)} "
                f"| {format_stat(r['gflops'])} "
                f"| {format_stat(r.get('percent_of_matmul'))} |"
            )
    if results.get("figure"):
        lines += ["", f"![scaling]({results['figure']})"]
    return lines
