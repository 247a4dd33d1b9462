"""Benchmark genbench: trainer speed, whole runs, scaling, study throughput.

Run from the repository root: `python -m scripts.bench [--quick] [...]`.

Sections 1 to 3 run on `1d_trimodal`, continuous data (`bins.n=0`), batch 128,
in one process and one run. Every figure is the median of `--repeats` repeats
with its min-max spread; every repeat of a trainer measurement is a fresh
`train()` call (so it compiles afresh and its compile time is a repeat too).

1. compare (`compare.py`): genbench's trainer (`genbench.train.train`: one
   `lax.scan` chunk, seeds `vmap`ped) against per-step loops of the same model
   and config, as the original single-file script trained: one jitted step per
   Python iteration, the batch drawn and encoded inside the step. Seed-steps
   per second excluding compilation, the speed-up, compile times; 1 and 8 seeds.
2. runs (`runs.py`): wall time and peak RSS of whole `python -m genbench.run
   model=...` processes with the default config (cold: `jax_cache=null`),
   split into the compile / train / eval seconds of their metrics.json.
3. scaling (`scaling.py`): trainer seed-steps per second against the number of
   seeds and against the parameter budget, with the FLOPs of one step (XLA's
   cost analysis, `AbstractFamily.step_flops`) and their rate as a share of a
   measured 1024 x 1024 float32 matmul.
4. study (`study.py`): three sweeps of the real CLI in subprocesses (the
   original's study with a cold and a warm compilation cache, a default GAN job,
   `+experiment=grid train.steps=5000`), each job's wall time split into
   start-up, compile, train, evaluation and artifacts/plots, the largest named.

Writes bench.json and bench.md (and scaling.png) into `--out` (default
`bench_results/` at the repository root, which git ignores).

    python -m scripts.bench            # full benchmark
    python -m scripts.bench --quick    # smoke test: tiny steps, few points
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genbench.config import register_configs

from . import compare, runs, scaling, study
from .common import (
    ROOT,
    SECTIONS,
    STUDY_CASES,
    BenchSettings,
    describe_environment,
    format_stat,
    log,
    make_quick,
    summarise,
)
from .trainer import TrainerBench


def parse_settings(argv: Sequence[str] | None = None) -> BenchSettings:
    """Build the settings from the command line (`--quick` first, then the rest)."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: tiny steps, few points"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench_results",
        help="output folder (default: bench_results/ at the repository root)",
    )
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, help="sections to run (all)"
    )
    parser.add_argument(
        "--models", nargs="+", choices=("gan", "vae", "rbm"), help="models (all)"
    )
    parser.add_argument(
        "--repeats", type=int, metavar="N", help="repeats per figure (3; quick 1)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        metavar="S",
        help="aimed length of one timed measurement (2.0; quick 0.25)",
    )
    parser.add_argument(
        "--seeds",
        dest="curve_seeds",
        type=int,
        nargs="+",
        metavar="N",
        help="seeds curve (1 2 4 8 16 32 64; quick 1 8)",
    )
    parser.add_argument(
        "--budgets",
        dest="curve_budgets",
        type=int,
        nargs="+",
        metavar="P",
        help="budget curve (100 400 1600 6400 25600; quick 400 1600)",
    )
    parser.add_argument(
        "--budget-seeds", type=int, metavar="N", help="seeds of the budget curve (1)"
    )
    parser.add_argument(
        "--study-cases",
        nargs="+",
        choices=STUDY_CASES,
        help="sweeps of the study section (all)",
    )
    parser.add_argument(
        "--study-repeats", type=int, metavar="N", help="repeats of each sweep (1)"
    )
    parser.add_argument(
        "--study-overrides",
        nargs="+",
        metavar="KEY=VALUE",
        help="extra overrides of every study job, e.g. a launcher preset",
    )
    args = parser.parse_args(argv)
    settings = BenchSettings(out=args.out.resolve())
    if args.quick:
        settings = make_quick(settings)
    names = {f.name for f in dataclasses.fields(BenchSettings)}
    given = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in vars(args).items()
        if k in names and k not in ("out", "quick") and v is not None
    }
    settings = dataclasses.replace(settings, **given)
    if settings.repeats < 1 or settings.seconds <= 0 or settings.study_repeats < 1:
        parser.error("--repeats and --study-repeats must be >= 1 and --seconds > 0")
    return settings


def render_markdown(results: dict[str, Any], settings: BenchSettings) -> str:
    """bench.md: the settings, then one table per section."""
    env = results["environment"]
    load = results.get("load_average", {})
    mm = results.get("matmul", {})
    lines = [
        "# genbench trainer benchmark",
        "",
        f"{env['date']}, commit {env['git_commit']}"
        + (" (genbench/ modified)" if env["git_dirty"] else "")
        + f", jax {env['jax']}, {env['cpu_count']} CPU cores ({env['platform']}).",
        f"Target {settings.target}, continuous, batch {settings.batch_size}. "
        f"Every figure: median of {settings.repeats} repeat(s) (min–max), each "
        f"timed measurement aimed at {settings.seconds:g} s"
        + (" — **--quick: tiny steps, for checking the script only**" * settings.quick)
        + ".",
        f"Load average (1 min) at start / end: {load.get('start', '?')} / "
        f"{load.get('end', '?')} — anything else running slows every figure.",
    ]
    if mm:
        lines.append(
            f"{settings.matmul_size}² float32 matmul: "
            f"{format_stat(mm.get('start'), ' GFLOP/s')} at start, "
            f"{format_stat(mm.get('end'), ' GFLOP/s')} at the end."
        )
    for name, section in (
        ("compare", compare),
        ("runs", runs),
        ("scaling", scaling),
        ("study", study),
    ):
        if results.get(name):
            lines += section.markdown(results, settings)
    return "\n".join(lines) + "\n"


def save_results(results: dict[str, Any], settings: BenchSettings) -> None:
    """Write bench.json and bench.md (after every section, so nothing is lost)."""
    settings.out.mkdir(parents=True, exist_ok=True)
    payload = {
        **results,
        "settings": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in dataclasses.asdict(settings).items()
        },
    }
    (settings.out / "bench.json").write_text(json.dumps(payload, indent=2) + "\n")
    (settings.out / "bench.md").write_text(render_markdown(results, settings))


def run_benchmark(settings: BenchSettings) -> dict[str, Any]:
    """Every requested section, in order, saving as it goes."""
    register_configs()
    settings.out.mkdir(parents=True, exist_ok=True)  # a section may write first
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "environment": describe_environment(),
        "load_average": {"start": round(os.getloadavg()[0], 2)},
    }
    mm_seconds = min(1.0, settings.seconds)
    bench = TrainerBench(settings)
    size = settings.matmul_size
    if "scaling" in settings.sections:
        start = scaling.measure_matmul_rate(size, settings.repeats, mm_seconds)
        results["matmul"] = {"size": size, "start": start}
        log(f"matmul {size}²: {start['median']:.1f} GFLOP/s")
    if "compare" in settings.sections:
        results["compare"] = compare.compare_with_reference(settings, bench)
        save_results(results, settings)
    if "scaling" in settings.sections:
        results["scaling"] = scaling.measure_scaling(settings, bench)
        end = scaling.measure_matmul_rate(size, settings.repeats, mm_seconds)
        results["matmul"]["end"] = end
        peak = summarise(results["matmul"]["start"]["values"] + end["values"])
        results["matmul"]["all"] = peak
        for rows in results["scaling"].values():
            scaling.add_flop_rates(rows, peak)
        scaling.plot_scaling(results, settings, settings.out / "scaling.png")
        results["figure"] = "scaling.png"
        save_results(results, settings)
    if "runs" in settings.sections:
        results["runs"] = runs.time_whole_runs(settings)
        save_results(results, settings)
    if "study" in settings.sections:
        results["study"] = study.measure_study(settings)
    results["load_average"]["end"] = round(os.getloadavg()[0], 2)
    results["bench_seconds"] = time.perf_counter() - t_start
    save_results(results, settings)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, print the study's table and where the results are."""
    settings = parse_settings(argv)
    results = run_benchmark(settings)
    if results.get("study"):
        print("\n".join(study.markdown(results, settings)).strip())
    log(
        f"done in {results['bench_seconds']:.0f} s: "
        f"{settings.out / 'bench.md'}, bench.json"
        + (", scaling.png" if "figure" in results else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
