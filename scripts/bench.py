"""Benchmark genbench's compiled trainer: speed, whole runs, scaling (issue 6).

Three sections, all on `1d_trimodal`, continuous data (`bins.n=0`), batch 128,
in one process and one run. Every figure is the median of `--repeats` repeats
with its min-max spread; every repeat of a trainer measurement is a fresh
`train()` call (so it compiles afresh and its compile time is a repeat too).

1. compare: genbench's trainer (`genbench.train.train`: one `lax.scan` chunk,
   seeds `vmap`ped) against a reference per-step loop of the same model and
   config, as the original single-file script trained: one `jax.jit`-compiled
   step per Python iteration, the batch drawn from the target and encoded inside
   the jitted step. For several seeds the loop jits `vmap(step)`. Seed-steps per
   second excluding compilation, the speed-up, compile times; 1 and 8 seeds.
2. runs: wall time and peak RSS of whole `python -m genbench.run model=...`
   processes with the default config (cold: `jax_cache=null`), split into the
   compile / train / eval seconds of their metrics.json and the rest.
3. scaling: trainer seed-steps per second against the number of seeds and
   against the parameter budget, with the matmul FLOPs of one step and their
   rate as a share of a measured 1024 x 1024 float32 matmul.

Writes bench.json, bench.md and scaling.png into `--out` (default
`bench_results/` at the repository root, which git ignores).

    python scripts/bench.py            # full benchmark
    python scripts/bench.py --quick    # smoke test: tiny steps, few points
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from hydra import compose, initialize_config_dir

from genbench.config import RunSpec, build_run, register_configs
from genbench.models import GAN, RBM, VAE
from genbench.models.base import AbstractFamily
from genbench.train import seed_keys, train

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("compare", "runs", "scaling")


# --- settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    """What to measure and for how long (defaults: the full benchmark)."""

    out: Path
    sections: tuple[str, ...] = SECTIONS
    quick: bool = False
    models: tuple[str, ...] = ("gan", "vae", "rbm")
    target: str = "1d_trimodal"
    budget: int = 1600
    batch_size: int = 128  # the original script's batch
    compare_seeds: tuple[int, ...] = (1, 8)
    binned: int = 20  # bins.n of the binned-mode rows of section 1 (0: none)
    curve_seeds: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    curve_budgets: tuple[int, ...] = (100, 400, 1600, 6400, 25600)
    budget_seeds: int = 1  # seeds of every point of the budget curve
    repeats: int = 3
    seconds: float = 2.0  # aimed duration of one timed measurement
    min_steps: int = 50
    max_steps: int = 200_000
    eval_samples: int = 1000  # evaluation of trainer measurements (not timed)
    matmul_size: int = 1024
    run_overrides: tuple[str, ...] = ()  # extra overrides of the whole runs


def make_quick(settings: BenchSettings) -> BenchSettings:
    """Settings of `--quick`: every code path once, tiny steps, few points."""
    return dataclasses.replace(
        settings,
        quick=True,
        curve_seeds=(1, 8),
        curve_budgets=(400, 1600),
        repeats=1,
        seconds=0.25,
        min_steps=20,
        eval_samples=200,
        run_overrides=(
            "train.steps=200",
            "train.snapshot_percent=50",
            "train.eval_samples=2000",
            "train.snapshot_eval_samples=2000",
        ),
    )


def parse_settings(argv: Sequence[str] | None = None) -> BenchSettings:
    """Build the settings from the command line (`--quick` first, then the rest)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    if settings.repeats < 1 or settings.seconds <= 0:
        parser.error("--repeats must be >= 1 and --seconds > 0")
    return settings


# --- small helpers --------------------------------------------------------------------


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Median and min-max spread of repeated measurements."""
    values = [float(v) for v in values]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def scale_stat(stat: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same spread, every value multiplied by `factor`."""
    return summarise([v * factor for v in stat["values"]])


def format_number(x: float) -> str:
    """Three significant figures, no exponent for everyday magnitudes."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:.{digits}f}"


def format_stat(stat: dict[str, Any] | None, unit: str = "") -> str:
    """`median (min–max)` for a markdown cell; a single value alone."""
    if stat is None:
        return "—"
    if len(stat["values"]) == 1:
        return f"{format_number(stat['median'])}{unit}"
    lo, hi = format_number(stat["min"]), format_number(stat["max"])
    return f"{format_number(stat['median'])}{unit} ({lo}–{hi})"


def choose_steps(
    rate: float, n_seeds: int, seconds: float, min_steps: int, max_steps: int
) -> int:
    """Steps that take about `seconds` at `rate` seed-steps per second."""
    return int(min(max_steps, max(min_steps, round(rate * seconds / n_seeds))))


def compose_spec(
    settings: BenchSettings,
    model: str,
    budget: int,
    n_seeds: int,
    n_steps: int,
    devices: int | None = None,
    bins: int = 0,
) -> RunSpec:
    """The RunSpec the CLI would build for this model, budget, seeds and steps
    (`devices`: the trainer's `train.devices`; None: its default, every core)."""
    evals = settings.eval_samples
    overrides = [
        f"train.devices={'null' if devices is None else devices}",
        f"model={model}",
        f"target={settings.target}",
        f"budget.params={budget}",
        f"bins.n={bins}",
        f"train.batch_size={settings.batch_size}",
        f"train.steps={n_steps}",
        f"train.seeds={n_seeds}",
        "train.snapshot_percent=100",  # one chunk: timings cover one compiled call
        f"train.eval_samples={evals}",
        f"train.snapshot_eval_samples={evals}",
        "train.progress=false",
    ]
    with initialize_config_dir(
        config_dir=str(ROOT / "genbench" / "conf"), version_base="1.3"
    ):
        cfg = compose(config_name="config", overrides=overrides)
    return build_run(cfg)


# --- FLOPs of one step ----------------------------------------------------------------
#
# Only matrix products are counted: a product (m x k) @ (k x n) costs 2·m·k·n
# FLOPs (one multiply and one add per term). In the backward pass a product
# y = x @ W costs one more product of the same size for the weight gradient
# (dW = x^T dy) when W is trained by that update, and one more for the input
# gradient (dx = dy W^T) when a trained parameter lies upstream of x. So a
# product costs 2·m·k·n·(1 + [weight grad] + [input grad]); the "3x forward" rule
# of thumb over-counts first layers (data has no gradient), the generator pass
# of the discriminator update (stop_gradient) and the discriminator in the
# generator update (its weights are not differentiated there). The RBM has no
# autodiff: its CD gradient is written out, and every product is counted once.
# Elementwise work (activations, Adam, random numbers) is not counted, so the
# "% of matmul peak" is an upper bound on how much of the step is matmul-bound.
# `count_jaxpr_flops` recounts the same from the step's jaxpr as a check.


@dataclass(frozen=True)
class Matmul:
    """One product (m x k) @ (k x n) of a training step and its backward needs."""

    m: int
    k: int
    n: int
    weight_grad: bool = False
    input_grad: bool = False

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n * (1 + self.weight_grad + self.input_grad)


def list_gan_matmuls(gan: GAN, batch: int, dim: int, hidden: int) -> list[Matmul]:
    """Discriminator update, then generator update (genbench/models/gan.py)."""
    b, z, h = batch, gan.latent_dim, hidden
    fake_pass = [Matmul(b, z, h), Matmul(b, h, dim)]  # under stop_gradient
    d_pass = [Matmul(b, dim, h, weight_grad=True), Matmul(b, h, 1, True, True)]
    g_pass = [Matmul(b, z, h, weight_grad=True), Matmul(b, h, dim, True, True)]
    d_in_g = [Matmul(b, dim, h, input_grad=True), Matmul(b, h, 1, input_grad=True)]
    return fake_pass + 2 * d_pass + g_pass + d_in_g  # D sees real and fake


def list_vae_matmuls(vae: VAE, batch: int, dim: int, hidden: int) -> list[Matmul]:
    """Encoder then decoder, one update of both (genbench/models/vae.py)."""
    b, z, h = batch, vae.latent_dim, hidden
    return [
        Matmul(b, dim, h, weight_grad=True),
        Matmul(b, h, 2 * z, True, True),
        Matmul(b, z, h, True, True),
        Matmul(b, h, dim, True, True),
    ]


def list_rbm_matmuls(rbm: RBM, batch: int, dim: int, hidden: int) -> list[Matmul]:
    """CD-k with the analytic gradient, continuous mode (genbench/models/rbm.py)."""
    b, h = batch, hidden
    m = rbm.persistent_chains or batch  # rows of the negative phase
    sweep = [Matmul(m, dim, h), Matmul(m, h, dim)]  # v -> p(h|v), h -> mean of v
    if rbm.persistent_chains:
        chain = rbm.cd_k * sweep
    else:  # the first sweep reuses p(h|data): only its visible half is new
        chain = [Matmul(b, h, dim)] + (rbm.cd_k - 1) * sweep
    # v^T p(h|data), 1^T p(h|data) (its batch sum), p(h|neg), v^T p(h|neg),
    # 1^T p(h|neg); dF/dlog s reuses the v^T p products
    grad = [Matmul(dim, b, h), Matmul(1, b, h)]
    grad += [Matmul(m, dim, h), Matmul(dim, m, h), Matmul(1, m, h)]
    # the logged reconstruction error: free in CD (the first sweep's visible
    # mean), one product with p(h|data) in PCD
    recon = [Matmul(b, h, dim)] if rbm.persistent_chains else []
    return [Matmul(b, dim, h)] + chain + grad + recon  # p(h|data) first


def count_step_flops(family: AbstractFamily, batch: int, dim: int, hidden: int) -> int:
    """Matmul FLOPs of one training step of one seed (see the comment above)."""
    if getattr(family, "blocks", None) is not None:
        raise ValueError("the FLOP count covers continuous mode only")
    listers: dict[type, Callable[..., list[Matmul]]] = {
        GAN: list_gan_matmuls,
        VAE: list_vae_matmuls,
        RBM: list_rbm_matmuls,
    }
    lister = listers[type(family)]
    return sum(mm.flops for mm in lister(family, batch, dim, hidden))


def iterate_sub_jaxprs(values: Iterable[Any]) -> Iterable[Any]:
    """Jaxprs held in an equation's parameters (pjit, scan, custom_jvp, cond)."""
    for value in values:
        if hasattr(value, "eqns"):
            yield value
        elif hasattr(getattr(value, "jaxpr", None), "eqns"):
            yield value.jaxpr
        elif isinstance(value, (tuple, list)):
            yield from iterate_sub_jaxprs(value)


def count_jaxpr_flops(jaxpr: Any) -> int:
    """2·(output size)·(contracted size) over every dot_general, sub-jaxprs too.

    Scan bodies count `length` times; other sub-jaxprs once (a cond's branches
    would all be counted; the training steps have none).
    """
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            out = eqn.outvars[0].aval.shape
            total += 2 * math.prod(out) * math.prod(lhs[i] for i in contract)
        times = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
        for sub in iterate_sub_jaxprs(eqn.params.values()):
            total += times * count_jaxpr_flops(sub)
    return total


# --- the reference per-step loop ------------------------------------------------------


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


@dataclass
class LoopRun:
    """One timed run of a training loop (trainer or reference)."""

    n_steps: int
    n_seeds: int
    compile_seconds: float
    train_seconds: float
    devices: int = 1  # devices the seeds were split across

    @property
    def rate(self) -> float:
        """Seed-steps per second, compilation excluded."""
        return self.n_steps * self.n_seeds / self.train_seconds


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


# --- genbench's trainer ---------------------------------------------------------------


def run_trainer_once(spec: RunSpec) -> LoopRun:
    """One `genbench.train.train` call; its own timings of the compiled chunk.

    `train_seconds` covers the chunk's first execution, which costs about 0.1 s
    more than later ones on 2 CPU cores: short measurements understate the
    trainer (a few % at the default 2 s).
    """
    s = spec.settings
    result = train(spec.family, spec.target, spec.encoding, s, spec.hidden)
    t = result.timings
    return LoopRun(
        s.steps, s.seeds, t["compile_seconds"], t["train_seconds"], t["devices"]
    )


@dataclass
class TrainerPoint:
    """Repeated trainer measurements of one model, budget and number of seeds."""

    model: str
    budget: int
    n_seeds: int
    devices: int | None  # the setting (None: every core); runs record the count
    hidden: int
    n_params: int
    flops_per_step: int  # one seed, counted from the shapes
    flops_jaxpr: int  # the same, counted from the step's jaxpr
    runs: list[LoopRun] = field(default_factory=list)
    n_discarded: int = 0

    def rate(self) -> dict[str, Any]:
        return summarise([r.rate for r in self.runs])

    def compile(self) -> dict[str, Any]:
        return summarise([r.compile_seconds for r in self.runs])


def count_flops(spec: RunSpec) -> tuple[int, int]:
    """Matmul FLOPs of one seed's step: from the shapes, and from the jaxpr."""
    dim = spec.encoding.model_dim
    by_shapes = count_step_flops(
        spec.family, spec.settings.batch_size, dim, spec.hidden
    )
    state, key = init_reference(spec, 1)
    jaxpr = jax.make_jaxpr(make_reference_step(spec))(state, key)
    return by_shapes, count_jaxpr_flops(jaxpr.jaxpr)


class TrainerBench:
    """Measures the trainer at (model, budget, seeds) points, each only once."""

    def __init__(self, settings: BenchSettings):
        self.settings = settings
        self.points: dict[tuple[Any, ...], TrainerPoint] = {}

    def get_point(
        self,
        model: str,
        budget: int,
        n_seeds: int,
        devices: int | None = None,
        bins: int = 0,
    ) -> TrainerPoint:
        """The point's record (created with its FLOP counts on first use; binned
        points have none)."""
        key = (model, budget, n_seeds, devices, bins)
        if key not in self.points:
            spec = compose_spec(self.settings, model, budget, n_seeds, 100, bins=bins)
            by_shapes, by_jaxpr = count_flops(spec) if not bins else (0, 0)
            self.points[key] = TrainerPoint(
                model,
                budget,
                n_seeds,
                devices,
                spec.hidden,
                spec.n_params,
                by_shapes,
                by_jaxpr,
            )
        return self.points[key]

    def add_run(
        self,
        model: str,
        budget: int,
        n_seeds: int,
        rate_guess: float,
        devices: int | None = None,
        bins: int = 0,
    ) -> LoopRun:
        """One more fresh `train()` call, aimed at `seconds` of training.

        The step count comes from the point's last rate (first: `rate_guess`).
        A first call much shorter than aimed is a calibration only and dropped.
        """
        s = self.settings
        point = self.get_point(model, budget, n_seeds, devices, bins)
        rate = point.runs[-1].rate if point.runs else rate_guess
        while True:
            n_steps = choose_steps(rate, n_seeds, s.seconds, s.min_steps, s.max_steps)
            spec = compose_spec(s, model, budget, n_seeds, n_steps, devices, bins)
            run = run_trainer_once(spec)
            rate = run.rate
            log(
                f"trainer {model} budget={budget} bins={bins} seeds={n_seeds} "
                f"devices={run.devices} steps={n_steps}: {run.rate:.0f} "
                f"seed-steps/s, compile {run.compile_seconds:.2f} s"
            )
            short = run.train_seconds < s.seconds / 4 and n_steps < s.max_steps
            if short and not point.runs and not point.n_discarded:
                point.n_discarded += 1
                continue
            point.runs.append(run)
            return run

    def measure(
        self, model: str, budget: int, n_seeds: int, rate_guess: float
    ) -> TrainerPoint:
        """The point with `repeats` runs (only the missing ones are run)."""
        point = self.get_point(model, budget, n_seeds)
        while len(point.runs) < self.settings.repeats:
            self.add_run(model, budget, n_seeds, rate_guess)
        return point


def describe_point(point: TrainerPoint) -> dict[str, Any]:
    """JSON form of a trainer point."""
    return {
        "model": point.model,
        "budget": point.budget,
        "seeds": point.n_seeds,
        "devices": max((r.devices for r in point.runs), default=1),
        "hidden": point.hidden,
        "n_params": point.n_params,
        "steps": [r.n_steps for r in point.runs],
        "seed_steps_per_s": point.rate(),
        "compile_seconds": point.compile(),
        "flops_per_seed_step": point.flops_per_step,
        "flops_per_seed_step_jaxpr": point.flops_jaxpr,
        "discarded_calibration_runs": point.n_discarded,
    }


# --- section 1: trainer vs the per-step loop ------------------------------------------


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


# --- section 2: whole runs ------------------------------------------------------------


def time_whole_run(model: str, run_dir: Path, overrides: Sequence[str]) -> dict:
    """Run the CLI once in a subprocess: wall time, peak RSS, its metrics.json.

    Peak RSS is the child's `ru_maxrss` from `os.wait4`, taken through a small
    launcher process. Linux keeps the high-water mark of the image a child was
    forked from, so a run forked from this process (JAX loaded, about 1 GB)
    would report at least this process's size; `getrusage(RUSAGE_CHILDREN)`
    has the same flaw and is moreover the largest of all children so far.
    """
    launcher = "\n".join(
        [
            "import json, os, sys, time",
            "t0 = time.perf_counter()",
            "pid = os.fork()",
            "if pid == 0:",
            "    os.execv(sys.argv[2], sys.argv[2:])",
            "_, status, usage = os.wait4(pid, 0)",
            "wall = time.perf_counter() - t0",
            "with open(sys.argv[1], 'w') as f:",
            "    json.dump({'status': status, 'maxrss': usage.ru_maxrss,",
            "               'wall': wall}, f)",
        ]
    )
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "genbench.run",
        f"model={model}",
        f"hydra.run.dir={run_dir}",
        "jax_cache=null",  # cold start: no persistent compilation cache
        "train.progress=false",
        *overrides,
    ]
    usage_path = run_dir / "bench_rusage.json"
    with open(run_dir / "bench_stdout.log", "w") as out:
        subprocess.run(
            [sys.executable, "-c", launcher, str(usage_path), *cmd],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    usage = json.loads(usage_path.read_text())
    rss_unit = 1 if sys.platform == "darwin" else 1024  # bytes vs KiB
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return {
        "returncode": os.waitstatus_to_exitcode(usage["status"]),
        "wall_seconds": usage["wall"],
        "peak_rss_mb": usage["maxrss"] * rss_unit / 2**20,
        "timing": metrics.get("timing", {}),
        "hidden": metrics.get("hidden"),
        "steps": metrics.get("steps"),
        "seeds": len(metrics.get("seeds", [])),
        "batch_size": metrics.get("batch_size"),
        "command": " ".join(cmd[1:]),
    }


def time_whole_runs(settings: BenchSettings) -> list[dict[str, Any]]:
    """`repeats` whole runs of the default config per model, summarised."""
    rows = []
    for model in settings.models:
        runs = []
        for i in range(settings.repeats):
            run_dir = settings.out / "runs" / f"{model}_{i}"
            run = time_whole_run(model, run_dir, settings.run_overrides)
            log(
                f"whole run {model} ({i + 1}/{settings.repeats}): "
                f"{run['wall_seconds']:.1f} s, {run['peak_rss_mb']:.0f} MB, "
                f"exit {run['returncode']}"
            )
            runs.append(run)
        ok = [r for r in runs if r["returncode"] == 0 and r["timing"]]
        row: dict[str, Any] = {
            "model": model,
            "ok": len(ok),
            "runs": runs,
            "wall_seconds": summarise([r["wall_seconds"] for r in runs]),
            "peak_rss_mb": summarise([r["peak_rss_mb"] for r in runs]),
        }
        if ok:
            first = ok[0]
            row.update(hidden=first["hidden"], steps=first["steps"])
            row.update(seeds=first["seeds"], batch_size=first["batch_size"])
            for part in ("compile", "train", "eval"):
                secs = [r["timing"][f"{part}_seconds"] for r in ok]
                row[f"{part}_seconds"] = summarise(secs)
                shares = [s / r["wall_seconds"] for s, r in zip(secs, ok, strict=True)]
                row[f"{part}_share"] = summarise(shares)
            other = [
                r["wall_seconds"]
                - sum(r["timing"][f"{p}_seconds"] for p in ("compile", "train", "eval"))
                for r in ok
            ]
            row["other_seconds"] = summarise(other)
            row["other_share"] = summarise(
                [o / r["wall_seconds"] for o, r in zip(other, ok, strict=True)]
            )
        rows.append(row)
    return rows


# --- section 3: scaling ---------------------------------------------------------------


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


# --- report ---------------------------------------------------------------------------


def describe_environment() -> dict[str, Any]:
    """Versions, machine and git state (the working tree may differ from HEAD)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            )
            return out.stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    import equinox
    import jaxlib
    import optax

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--", "genbench")),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "equinox": equinox.__version__,
        "optax": optax.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": str(jax.devices()[0]),
    }


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
    if results.get("compare"):
        lines += [
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
    if results.get("runs"):
        overrides = " ".join(settings.run_overrides) or "none"
        lines += [
            "",
            "## 2. Whole runs",
            "",
            "`python -m genbench.run model=<model> jax_cache=null "
            f"train.progress=false` (other overrides: {overrides}); wall time "
            "around the process, peak RSS of the process, and the parts of its "
            "metrics.json `timing`: seconds (share of the wall time). Other = "
            "imports, config, building, artifacts and plots.",
            "",
            "| model | H | steps × seeds, batch | wall, s | compile | train | eval "
            "| other | peak RSS, MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["runs"]:
            if not r["ok"]:
                lines.append(
                    f"| {r['model'].upper()} | every run failed: see "
                    f"runs/{r['model']}_*/bench_stdout.log | | | | | | | |"
                )
                continue
            parts = [
                f"{format_number(r[f'{p}_seconds']['median'])} "
                f"({100 * r[f'{p}_share']['median']:.0f} %)"
                for p in ("compile", "train", "eval", "other")
            ]
            lines.append(
                f"| {r['model'].upper()} | {r['hidden']} | {r['steps']} × {r['seeds']}"
                f", {r['batch_size']} | {format_stat(r['wall_seconds'])} | "
                + " | ".join(parts)
                + f" | {format_stat(r['peak_rss_mb'])} |"
            )
    scaling = results.get("scaling")
    if scaling:
        lines += [
            "",
            "## 3. Scaling",
            "",
            "MFLOP: matmul FLOPs of one step of one seed, counted from the shapes "
            "(forward + the backward products actually needed; see "
            "`scripts/bench.py`). % of matmul: achieved matmul GFLOP/s over the "
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
        mismatched = sorted(
            {
                (r["model"], r["budget"])
                for rows in scaling.values()
                for r in rows
                if r["flops_per_seed_step"] != r["flops_per_seed_step_jaxpr"]
            }
        )
        if mismatched:
            lines += [
                "",
                "**FLOP count check failed** (shapes ≠ jaxpr dot_general count) for "
                + ", ".join(f"{m} at budget {b}" for m, b in mismatched)
                + ": the model changed; update the `list_*_matmuls` of bench.py.",
            ]
        if results.get("figure"):
            lines += ["", f"![scaling]({results['figure']})"]
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
    if "scaling" in settings.sections:
        start = measure_matmul_rate(settings.matmul_size, settings.repeats, mm_seconds)
        results["matmul"] = {"size": settings.matmul_size, "start": start}
        log(f"matmul {settings.matmul_size}²: {start['median']:.1f} GFLOP/s")
    if "compare" in settings.sections:
        results["compare"] = compare_with_reference(settings, bench)
        save_results(results, settings)
    if "scaling" in settings.sections:
        results["scaling"] = measure_scaling(settings, bench)
        end = measure_matmul_rate(settings.matmul_size, settings.repeats, mm_seconds)
        results["matmul"]["end"] = end
        peak = summarise(results["matmul"]["start"]["values"] + end["values"])
        results["matmul"]["all"] = peak
        for rows in results["scaling"].values():
            add_flop_rates(rows, peak)
        plot_scaling(results, settings, settings.out / "scaling.png")
        results["figure"] = "scaling.png"
        save_results(results, settings)
    if "runs" in settings.sections:
        results["runs"] = time_whole_runs(settings)
    results["load_average"]["end"] = round(os.getloadavg()[0], 2)
    results["bench_seconds"] = time.perf_counter() - t_start
    save_results(results, settings)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, print where the results are."""
    settings = parse_settings(argv)
    results = run_benchmark(settings)
    log(
        f"done in {results['bench_seconds']:.0f} s: "
        f"{settings.out / 'bench.md'}, bench.json"
        + (", scaling.png" if "figure" in results else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
