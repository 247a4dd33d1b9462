"""What a run's evaluation costs: the compile time of every program a run
compiles, the run time of its evaluations and of each metric, each against
500 training steps of the same run, measured in the same process.

    python -m scripts.bench.evaluation                      # 2d_gmm and 1d_trimodal
    python -m scripts.bench.evaluation --targets 2d_ring8 --seeds 8 --repeats 5

Per target: the default model (`--model`), `--seeds` seeds, a final evaluation
of `--samples` samples per seed, snapshots of the default 10 000, and one
training chunk of `--steps` steps. Compile seconds of each program (with the
family's XLA options, as `train.compile_programs` compiles them) and XLA's
FLOP count of it (`cost_analysis`); then the best of `--repeats` calls of the
training chunk, of each evaluation, and of each metric alone (`jit(vmap)` over
the seeds' final samples), the last two also as a ratio to the chunk. Runs as
a file too (`python scripts/bench/evaluation.py`), so that the same script
measures another checkout's genbench (`PYTHONPATH=<checkout>`, run from
outside it).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np


def build_spec(target: str, model: str, seeds: int, samples: int, steps: int):
    """The RunSpec the CLI builds for these settings (one chunk of `steps`)."""
    from hydra import compose, initialize_config_dir

    import genbench
    from genbench.config import build_run, register_configs

    register_configs()
    overrides = [
        f"target={target}",
        f"model={model}",
        f"train.seeds={seeds}",
        f"train.steps={steps}",
        "train.snapshot_percent=100",
        f"train.eval_samples={samples}",
        "train.progress=false",
    ]
    conf = Path(genbench.__file__).parent / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return build_run(compose(config_name="config", overrides=overrides))


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Fewest seconds of `repeats` calls of `fn` (after one warm-up call)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def gflops(compiled) -> float:
    """XLA's FLOP count of a compiled program, in GFLOP (NaN if not reported)."""
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older JAX: one dict per device program
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", np.nan)) / 1e9


class Timer:
    """Compiles programs with the family's options and records their seconds."""

    def __init__(self, options: dict[str, str]):
        self.options = options
        self.rows: list[tuple[str, float, float]] = []

    def compile(self, name: str, lowered) -> Any:
        from genbench.train import compile_with

        t = time.perf_counter()
        compiled = compile_with(lowered, self.options)
        self.rows.append((name, time.perf_counter() - t, gflops(compiled)))
        return compiled


def measure(target: str, args: argparse.Namespace) -> dict[str, Any]:
    """Compile and run times of one target's run (see the module docstring)."""
    from genbench import metrics
    from genbench.train import Programs, seed_sharding

    spec = build_spec(target, args.model, args.seeds, args.samples, args.steps)
    s = spec.settings
    prog = Programs(spec.family, spec.target, spec.encoding, s, spec.hidden)
    timer = Timer(spec.family.compiler_options)
    sharding = seed_sharding(prog.n_dev)
    setup = timer.compile("setup", jax.jit(prog.setup, out_shardings=sharding).lower())
    states, failure, k_train, k_eval = setup()
    chunk_jit = jax.jit(prog.chunk, out_shardings=(sharding,) * 3)
    chunk = timer.compile("chunk", chunk_jit.lower(states, failure, k_train, 0))
    evaluations = {}
    new_api = hasattr(prog, "reference")  # this checkout's; else the old one's
    for label, n in (("snapshot", s.snapshot_eval_samples), ("final", s.eval_samples)):
        if new_api:
            ref_lowered = jax.jit(prog.reference, static_argnums=0).lower(n)
            ref = timer.compile(f"reference ({label}, n={n})", ref_lowered)()
            lowered = jax.jit(prog.evaluate, static_argnums=4).lower(
                states, k_eval, 0, ref, n
            )
            program = timer.compile(f"evaluate ({label}, n={n})", lowered)
            evaluations[label] = (lambda p, r: lambda: p(states, k_eval, 1, r))(
                program, ref
            )
        else:
            lowered = jax.jit(prog.evaluate, static_argnums=3).lower(
                states, k_eval, 0, n
            )
            name = f"evaluate ({label}, n={n}; reference, floor inside)"
            program = timer.compile(name, lowered)
            evaluations[label] = (lambda p: lambda: p(states, k_eval, 1))(program)
    if new_api:
        floor_lowered = jax.jit(prog.floor, static_argnums=1).lower(ref, s.eval_samples)
        timer.compile(f"floor (final, n={s.eval_samples})", floor_lowered)

    reps = args.repeats
    chunk_s = best_time(lambda: chunk(states, failure, k_train, 0), reps)
    runs = {k: best_time(f, reps) for k, f in evaluations.items()}
    # each metric alone, on the seeds' final samples
    n = s.eval_samples
    ev = prog.evaluator
    x = jax.jit(jax.vmap(lambda st, k: prog.samples(st, k, n)), out_shardings=sharding)(
        states, k_eval
    )
    ref = jax.jit(ev.reference, static_argnums=0)(n)
    parts: dict[str, Callable] = {
        "histogram cells": lambda xi, r: metrics.cell_shares(xi, ev.cell_edges),
        "sliced W1 (sorts)": lambda xi, r: metrics.sliced_wasserstein_sorted(
            xi, r["sorted"]
        ),
        "MMD (first 1000)": lambda xi, r: metrics.mmd_rbf(
            xi[: metrics.MMD_SAMPLES], r["sub"], r["bandwidth"]
        ),
        "kl_compat": lambda xi, r: metrics.compat_kl(xi, r["all"]),
    }
    if ev.n_modes:
        t = ev.target
        parts["mode shares"] = lambda xi, r: metrics.mode_shares(
            xi, t.modes, t.mode_covs
        )
    metric_s = {}
    for name, fn in parts.items():
        jf = jax.jit(jax.vmap(fn, in_axes=(0, None)))
        metric_s[name] = best_time(lambda jf=jf: jf(x, ref), reps)
    return {
        "target": target,
        "model": args.model,
        "seeds": s.seeds,
        "steps": s.steps,
        "compile": timer.rows,
        "chunk_seconds": chunk_s,
        "evaluation_seconds": runs,
        "metric_seconds": metric_s,
        "samples": {"snapshot": s.snapshot_eval_samples, "final": s.eval_samples},
    }


def report(r: dict[str, Any]) -> str:
    """Markdown tables of one target's measurements."""
    c = r["chunk_seconds"]
    lines = [
        f"### {r['target']}, {r['model']}, {r['seeds']} seeds",
        "",
        "| program | compile s | GFLOP (XLA) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {sec:.2f} | {fl:.3g} |" for name, sec, fl in r["compile"]]
    total = sum(sec for _, sec, _ in r["compile"])
    lines += [f"| all | {total:.2f} | |", ""]
    lines += [
        "| run | seconds | × training chunk |",
        "|---|---|---|",
        f"| training chunk, {r['steps']} steps | {c:.3f} | 1 |",
    ]
    for label, sec in r["evaluation_seconds"].items():
        n = r["samples"][label]
        lines.append(
            f"| evaluation, {label} ({n} samples/seed) | {sec:.3f} | {sec / c:.2f} |"
        )
    for name, sec in r["metric_seconds"].items():
        lines.append(
            f"| metric alone: {name}, final count | {sec:.3f} | {sec / c:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", default=["2d_gmm", "1d_trimodal"])
    parser.add_argument("--model", default="gan")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for target in args.targets:
        print(report(measure(target, args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
