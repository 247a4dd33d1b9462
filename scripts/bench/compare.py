"""Section 1, compare: the trainer against per-step loops of the same model.

- the *original loop*: the original script's pattern, one `eqx.filter_jit` step
  per Python iteration with the key split on the host, one seed after the other;
- the *jit loop*: the best a per-step loop can do, `jax.jit` on arrays, the key
  carried on device, several seeds as one `jit(vmap(step))` call.

All draw the batch inside the jitted step and run the same model code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.random as jr

from genbench.config import RunSpec
from genbench.train import seed_keys

from .common import (
    BenchSettings,
    LoopRun,
    choose_steps,
    compose_spec,
    format_number,
    format_stat,
    log,
    summarise,
)
from .trainer import TrainerBench, describe_point


def make_reference_step(spec: RunSpec) -> Callable[[Any, jax.Array], Any]:
    """One training step as the original script ran it, batch drawn inside.

    The key travels with the state (split inside the step), so the loop makes
    no host-side random calls. Returns `(state, key, logs)`.
    """
    family, target, encoding = spec.family, spec.target, spec.encoding
    batch_size = spec.settings.batch_size

    def reference_step(state: Any, key: jax.Array) -> Any:
        key, k_batch, k_step = jr.split(key, 3)
        batch = encoding.encode(target.sample(k_batch, batch_size))
        state, logs = family.step(state, batch, k_step)
        return state, key, logs

    return reference_step


def init_reference(spec: RunSpec, n_seeds: int) -> tuple[Any, jax.Array]:
    """Initial states and training keys of the loop (seed axis if `n_seeds > 1`)."""
    dim, hidden, family = spec.encoding.model_dim, spec.hidden, spec.family
    keys = seed_keys(spec.settings.seed, n_seeds)
    k_init = jax.vmap(lambda k: jr.fold_in(k, 0))(keys)
    k_train = jax.vmap(lambda k: jr.fold_in(k, 1))(keys)
    states = jax.vmap(lambda k: family.init(k, dim, hidden))(k_init)
    if n_seeds == 1:
        return jax.tree_util.tree_map(lambda x: x[0], states), k_train[0]
    return states, k_train


def run_reference_once(
    spec: RunSpec, n_seeds: int, settings: BenchSettings, n_calibration: int = 10
) -> LoopRun:
    """Compile a fresh jitted step, calibrate the step count, time the loop.

    Compile time is the wall time of the first two calls, the way a user of the
    original script waited for it: the first traces and compiles; the second
    compiles again when the state's types change after one step (an RBM state
    built with weak-typed `log_sigma` does), and is otherwise one step.
    """
    step = make_reference_step(spec)
    options = spec.family.compiler_options  # XLA options, as the trainer's
    step = jax.jit(jax.vmap(step) if n_seeds > 1 else step, compiler_options=options)
    state, key = init_reference(spec, n_seeds)
    jax.block_until_ready((state, key))
    t0 = time.perf_counter()
    for _ in range(2):
        state, key, _ = step(state, key)
        jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(n_calibration):
        state, key, _ = step(state, key)
    jax.block_until_ready(state)
    rate = n_calibration * n_seeds / (time.perf_counter() - t0)
    n_steps = choose_steps(
        rate, n_seeds, settings.seconds, settings.min_steps, settings.max_steps
    )
    t0 = time.perf_counter()
    for _ in range(n_steps):
        state, key, _ = step(state, key)
    jax.block_until_ready(state)
    return LoopRun(n_steps, n_seeds, compile_seconds, time.perf_counter() - t0)


def run_original_once(
    spec: RunSpec, n_seeds: int, settings: BenchSettings, n_calibration: int = 10
) -> LoopRun:
    """The original script's loop: `eqx.filter_jit` step, host-side key split.

    One seed at a time (the original trained one seed per run, so `n_seeds`
    seeds run one after the other), every step a Python iteration that splits
    the key outside the jitted function (`key, sub = jr.split(key)`) and calls
    `eqx.filter_jit(step)` on the model and optimiser state. The batch is drawn
    inside the jitted step, as the trainer does: the original's host-side
    evaluation every 500 steps is left out, which favours this loop. The step
    compiles with the family's XLA `compiler_options`, as the trainer's chunk
    does (the original used XLA's defaults), which favours it too.
    """
    # its returned key is unused; XLA options as the trainer's (not the original's)
    options = spec.family.compiler_options
    step = eqx.filter_jit(make_reference_step(spec), compiler_options=options)

    states, keys = init_reference(spec, n_seeds)
    if n_seeds == 1:
        states = jax.tree_util.tree_map(lambda x: x[None], states)
        keys = keys[None]
    seeds = [
        (jax.tree_util.tree_map(lambda x, i=i: x[i], states), keys[i])
        for i in range(n_seeds)
    ]

    def loop(state: Any, key: jax.Array, n_steps: int) -> Any:
        for _ in range(n_steps):
            key, sub = jr.split(key)
            state, _, _ = step(state, sub)
        return state, key

    state, key = seeds[0]
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for _ in range(2):  # compile (twice if the state's types change after a step)
        state, key = loop(state, key, 1)
        jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(loop(state, key, n_calibration))
    rate = n_calibration / (time.perf_counter() - t0)
    n_steps = choose_steps(
        rate, n_seeds, settings.seconds, settings.min_steps, settings.max_steps
    )
    t0 = time.perf_counter()
    for state, key in seeds:  # one seed after the other
        jax.block_until_ready(loop(state, key, n_steps))
    return LoopRun(n_steps, n_seeds, compile_seconds, time.perf_counter() - t0)


def loop_record(runs: list[LoopRun], kind: str) -> dict[str, Any]:
    """JSON form of repeated runs of a reference loop."""
    return {
        "kind": kind,
        "steps": [r.n_steps for r in runs],
        "seed_steps_per_s": summarise([r.rate for r in runs]),
        "compile_seconds": summarise([r.compile_seconds for r in runs]),
    }


def compare_with_reference(
    settings: BenchSettings, bench: TrainerBench
) -> list[dict[str, Any]]:
    """Trainer against the two reference loops, for each model and seed count.

    - *original*: the original script's loop (`run_original_once`): the target
      of issue 6 is a speed-up of at least 10x with 8 seeds and 3x with one.
    - *jit loop*: the best a per-step loop can do (`run_reference_once`): keys
      on device, `jax.jit` on arrays, seeds under `vmap`. The trainer's gain
      over it is what `lax.scan` and the seed split across cores add alone.

    With several seeds the trainer is also run on one device (`train.devices=1`)
    to show what splitting seeds across cores adds. The loops and the trainer
    alternate within each repeat, so a change of load hits all alike.
    """
    rows = []
    for model in settings.models:
        for n_seeds in dict.fromkeys(settings.compare_seeds):
            spec = compose_spec(settings, model, settings.budget, n_seeds, 1000)
            runs: dict[str, list[LoopRun]] = {"original": [], "jit": [], "one": []}
            for i in range(settings.repeats):
                for name, fn in (
                    ("original", run_original_once),
                    ("jit", run_reference_once),
                ):
                    ref = fn(spec, n_seeds, settings)
                    runs[name].append(ref)
                    log(
                        f"{name} loop {model} seeds={n_seeds} ({i + 1}/"
                        f"{settings.repeats}) steps={ref.n_steps}: {ref.rate:.0f} "
                        f"seed-steps/s, compile {ref.compile_seconds:.2f} s"
                    )
                guess = 3 * runs["jit"][-1].rate
                runs["trainer"] = runs.get("trainer", []) + [
                    bench.add_run(model, settings.budget, n_seeds, guess)
                ]
                if n_seeds > 1:
                    one = bench.add_run(model, settings.budget, n_seeds, guess, 1)
                    runs["one"].append(one)
                if settings.binned:
                    binned = bench.add_run(
                        model, settings.budget, n_seeds, guess, bins=settings.binned
                    )
                    runs["binned"] = runs.get("binned", []) + [binned]
            point = bench.get_point(model, settings.budget, n_seeds)
            trainer = runs["trainer"]
            row = {
                **describe_point(point),
                "original": loop_record(runs["original"], "eqx.filter_jit(step)"),
                "jit": loop_record(
                    runs["jit"], "jit(vmap(step))" if n_seeds > 1 else "jit(step)"
                ),
                "speedup": {
                    name: summarise(
                        [
                            t.rate / r.rate
                            for t, r in zip(trainer, runs[name], strict=True)
                        ]
                    )
                    for name in ("original", "jit")
                },
            }
            if runs.get("binned"):
                row["binned"] = {
                    "bins": settings.binned,
                    "seed_steps_per_s": summarise([r.rate for r in runs["binned"]]),
                    "slowdown": summarise(
                        [
                            t.rate / b.rate
                            for t, b in zip(trainer, runs["binned"], strict=True)
                        ]
                    ),
                }
            if runs["one"]:
                row["one_device"] = {
                    "seed_steps_per_s": summarise([r.rate for r in runs["one"]]),
                    "split_gain": summarise(
                        [
                            t.rate / o.rate
                            for t, o in zip(trainer, runs["one"], strict=True)
                        ]
                    ),
                }
            rows.append(row)
    return rows


def markdown(results: dict[str, Any], settings: BenchSettings) -> list[str]:
    """The section's table in bench.md."""
    lines = [
        "",
        "## 1. Trainer vs per-step loops",
        "",
        "Seed-steps per second, compilation excluded. **Trainer**: "
        "`genbench.train.train`, one `lax.scan` chunk over all steps, seeds "
        "`vmap`ped and split across the CPU cores (one XLA device each; "
        "*devices* column), timed by its own `train_seconds`. **Original "
        "loop**: the original script's pattern, one `eqx.filter_jit` step per "
        "Python iteration with the key split on the host, one seed after the "
        "other (its host evaluation every 500 steps left out). **Jit loop**: "
        "the best per-step loop, `jax.jit` on arrays with the key carried on "
        "device, several seeds as one `jit(vmap(step))` call. All three draw "
        "the batch inside the jitted step and run the same model code. "
        "Speed-ups: trainer / loop per repeat. *1 device*: the trainer with "
        "`train.devices=1`, and the gain of the split. *Binned trainer*: "
        f"the same with `bins.n={settings.binned}` (one-hot data; H re-solved "
        "for the budget), and continuous / binned speed. Compile: the trainer's "
        "includes its initialisation and evaluation programs; a loop's is its "
        "first two calls (the RBM's state changes type after one step).",
        "",
        "| model | H | seeds | trainer | devices | original loop | ×original "
        "| jit loop | ×jit | trainer, 1 device (split gain) "
        "| binned trainer (slowdown) | compile: trainer / original / jit, s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["compare"]:
        one = r.get("one_device")
        one_cell = (
            f"{format_stat(one['seed_steps_per_s'])} "
            f"({format_stat(one['split_gain'], '×')})"
            if one
            else "—"
        )
        binned = r.get("binned")
        binned_cell = (
            f"{format_stat(binned['seed_steps_per_s'])} "
            f"({format_stat(binned['slowdown'], '×')})"
            if binned
            else "—"
        )
        lines.append(
            f"| {r['model'].upper()} | {r['hidden']} | {r['seeds']} "
            f"| {format_stat(r['seed_steps_per_s'])} | {r['devices']} "
            f"| {format_stat(r['original']['seed_steps_per_s'])} "
            f"| **{format_stat(r['speedup']['original'], '×')}** "
            f"| {format_stat(r['jit']['seed_steps_per_s'])} "
            f"| {format_stat(r['speedup']['jit'], '×')} | {one_cell} "
            f"| {binned_cell} "
            f"| {format_number(r['compile_seconds']['median'])} / "
            f"{format_number(r['original']['compile_seconds']['median'])} / "
            f"{format_number(r['jit']['compile_seconds']['median'])} |"
        )
    return lines
