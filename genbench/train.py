"""The compiled training loop: `lax.scan` over snapshot chunks, seeds under `vmap`.

One call of the compiled chunk runs `chunk_len` steps for every seed with no host
round trip, in blocks of at most `BLOCK_MAX` steps whose batches and keys are drawn
at once before the block's steps run. Between chunks, Python evaluates (also
compiled), logs the history and moves the progress bar. A seed whose losses or
parameters stop being finite is marked diverged at that step, and one whose
parameters grow beyond `PARAM_LIMIT` or whose samples nearly all leave the
range (`RUNAWAY_INSIDE`) is marked runaway; either is frozen (at its state from
the start of that block: finite, at most `BLOCK_MAX` steps older) and the others
go on.

In three parts: `Programs` builds the pure functions (setup, the training chunk,
the evaluation with its reference and floor; traced, they also give the memory
estimate that `check_memory` refuses a run by), `compile_programs` compiles
them, and `train` is the host loop that runs the chunks and feeds a `History`.
Scoring is `metrics.Evaluator`.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .encoding import AbstractEncoding
from .errors import positive, require
from .memory import available_memory, peak_bytes
from .metrics import METRICS
from .models.base import AbstractFamily
from .targets import AbstractTarget

__all__ = [
    "METRICS",
    "TrainSettings",
    "TrainResult",
    "Programs",
    "Compiled",
    "compile_programs",
    "History",
    "MemoryBudgetError",
    "check_memory",
    "train",
    "seed_keys",
]

# Steps per block of drawn data: long enough that the random-number programs run
# vectorised (one per block instead of a handful of tiny ones per step), short
# enough that a block's batches stay small (block x seeds x batch x dim).
BLOCK_MIN, BLOCK_MAX = 25, 64
# A seed runs away when a parameter's magnitude exceeds PARAM_LIMIT (trained
# networks here hold values of order 1-100; finite but huge parameters mean the
# optimiser has lost the model) or when, at a snapshot, the share of its samples
# inside the scoring range is below RUNAWAY_INSIDE of the target's share there
# (with the usual bounds, >= 99 % of its samples lie beyond them). Shares count
# samples with a value: no valid category is `invalid`, a different failure.
PARAM_LIMIT = 1e6
RUNAWAY_INSIDE = 0.01
# Evaluation draws samples in chunks whose sampler activations (all seeds
# together, as estimated from the traced sampler) stay below this many bytes.
EVAL_CHUNK_BYTES = 256 * 2**20
# A run is refused when its estimated peak exceeds this share of the memory
# available (the estimate leaves out the runtime, compiled code and Python).
MEMORY_SHARE = 0.8
# Why a seed stopped (Failure.kind).
OK, DIVERGED, RUNAWAY_PARAMS, RUNAWAY_SAMPLES = 0, 1, 2, 3


@dataclass(frozen=True)
class TrainSettings:
    """Plain settings of a run (the `train` group; its schema is derived from this)."""

    steps: int = 200_000
    batch_size: int = 256
    seed: int = 0
    seeds: int = 8
    snapshot_percent: float = 5.0
    eval_samples: int = 100_000
    snapshot_eval_samples: int = 10_000
    hist_bins: int | None = None
    progress: bool = True
    # Devices the seeds are split across (one XLA host device per CPU core, see
    # genbench/__init__.py); None: as many as there are, at most one per seed.
    devices: int | None = None

    def __post_init__(self) -> None:
        """Refuse values that cannot run. Raises ConfigError naming `train.<key>`."""
        for key in ("steps", "batch_size", "seeds"):
            positive(f"train.{key}", getattr(self, key))
        require(self.seed >= 0, "train.seed", self.seed, "must be >= 0")
        pct = self.snapshot_percent
        require(0 < pct <= 100, "train.snapshot_percent", pct, "must be in (0, 100]")
        positive("train.eval_samples", self.eval_samples)
        positive("train.snapshot_eval_samples", self.snapshot_eval_samples)
        hist, devices = self.hist_bins, self.devices
        require(
            hist is None or hist >= 2,
            "train.hist_bins",
            hist,
            "must be null (the target's default) or >= 2",
        )
        require(
            devices is None or devices >= 1,
            "train.devices",
            devices,
            "must be null (one per CPU core) or >= 1",
        )

    @property
    def chunk_len(self) -> int:
        return max(1, math.ceil(self.steps * self.snapshot_percent / 100))

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.steps / self.chunk_len)

    @property
    def block_layout(self) -> tuple[int, int]:
        """`(blocks, steps per block)` of a chunk: the data (and keys) of a block's
        steps are drawn at once, vectorised, before its steps run (see `train`).
        Blocks cover the chunk exactly when some length in [BLOCK_MIN, BLOCK_MAX]
        divides it; otherwise the last block runs a few masked steps."""
        n = self.chunk_len
        if n <= BLOCK_MAX:
            return 1, n
        for length in range(BLOCK_MAX, BLOCK_MIN - 1, -1):
            if n % length == 0:
                return n // length, length
        blocks = math.ceil(n / BLOCK_MAX)
        return blocks, math.ceil(n / blocks)


@dataclass
class TrainResult:
    """What a run produced; arrays have a leading seed axis."""

    states: Any
    history: list[dict[str, float]]  # one row per snapshot per seed
    final: dict[str, np.ndarray]  # every metric per seed (NaN: a failed seed)
    samples: np.ndarray | None  # (seeds, eval_samples, dim), data space
    diverged_step: np.ndarray  # (seeds,): step where the seed failed, -1 if never
    snapshot_steps: list[int]
    snapshot_hists: np.ndarray  # (snapshots, seeds, *cells): model histograms
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # stopped by SIGINT/SIGTERM; holds completed snapshots
    steps_done: int = 0  # steps of the last completed snapshot
    # Each metric of true samples scored like a model's (same n): a perfect model.
    floor: dict[str, float] = field(default_factory=dict)
    # Per seed: None, or why it stopped: {"status": "diverged" | "runaway",
    # "step", and for a runaway "max_param" or "lost" (what tripped it)}.
    failures: list[dict[str, Any] | None] = field(default_factory=list)
    final_hists: np.ndarray | None = None  # (seeds, *cells) of the final evaluation
    eval_samples: int = 0  # samples per seed of `final` (a snapshot's if interrupted)
    log_keys: list[str] = field(default_factory=list)  # the family's logged losses


class Failure(NamedTuple):
    """Per seed (arrays of shape `(seeds,)`): where and why training stopped."""

    step: jax.Array  # int32: the step it failed at; -1 while it has not
    kind: jax.Array  # int32: OK, DIVERGED, RUNAWAY_PARAMS or RUNAWAY_SAMPLES
    value: jax.Array  # float32: max |parameter| or share of samples outside


def seed_layout(n_seeds: int, devices: int | None = None) -> tuple[int, int]:
    """`(devices used, seeds computed)`: the seed axis is split evenly across
    devices, so it is padded to a multiple of their number (the extra seeds are
    computed and dropped; 3 seeds on 2 cores take the time of 2 on one)."""
    available = len(jax.devices())
    if devices is not None and devices < 1:
        raise ValueError(f"train.devices={devices} is not allowed; use null or >= 1")
    n_dev = max(1, min(n_seeds, available, devices or available))
    return n_dev, -(-n_seeds // n_dev) * n_dev


def seed_sharding(n_dev: int) -> jax.sharding.Sharding:
    """Arrays with a leading seed axis, split across the first `n_dev` devices."""
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:n_dev]), ("seeds",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))


def seed_keys(seed: int, n_seeds: int) -> jax.Array:
    """Keys of seeds `seed, ..., seed + n_seeds - 1`: seed j uses
    `fold_in(key(0), j)`, so its stream depends neither on how many seeds run nor
    on which seed the run starts from (seed 3 of `train.seed=0` is seed 3 of
    `train.seed=3`)."""
    base = jr.key(0)
    return jax.vmap(lambda j: jr.fold_in(base, j))(seed + jnp.arange(n_seeds))


def compile_with(lowered: jax.stages.Lowered, options: dict[str, str]):
    """`lowered.compile(options)`, or without them if this XLA does not know one
    (they tune speed only; a newer or other backend may have renamed them)."""
    if options:
        try:
            return lowered.compile(compiler_options=options)
        except jax.errors.JaxRuntimeError as err:
            if "No such compile option" not in str(err):
                raise
            message = f"compiling without the XLA options {options}: {err}"
            warnings.warn(message, stacklevel=2)
    return lowered.compile()


def _all_finite(tree) -> jax.Array:
    leaves = [
        x
        for x in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _max_abs(tree) -> jax.Array:
    """Largest magnitude over a tree's float arrays; NaN if any value is NaN."""
    leaves = [
        x
        for x in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact) and x.size
    ]
    return jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))


def _select(pred, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a, b)


class Programs:
    """The pure functions a run compiles, for one family, target, encoding,
    settings and hidden width: `setup`, `chunk` (training), `reference` and
    `evaluate` (per sample count), `floor`. The trainer jits them;
    `memory_estimate` traces them (nothing is compiled or allocated) to
    estimate their peak memory."""

    def __init__(
        self,
        family: AbstractFamily,
        target: AbstractTarget,
        encoding: AbstractEncoding,
        settings: TrainSettings,
        hidden: int,
    ):
        self.family, self.target, self.encoding = family, target, encoding
        self.settings, self.hidden = settings, hidden
        self.n_dev, self.n_pad = seed_layout(settings.seeds, settings.devices)
        self.evaluator = target.evaluator(encoding, settings.hist_bins)
        n_blocks, block_len = settings.block_layout
        # Steps past a chunk's end or past `steps` exist only when blocks overrun.
        self.may_pad = settings.n_chunks * n_blocks * block_len > settings.steps

    # --- training -------------------------------------------------------------

    def setup(self):
        """Per-seed keys, initial states and failure records, in one program."""
        s, family = self.settings, self.family
        split = jax.vmap(lambda k: jr.split(k, 3))(seed_keys(s.seed, self.n_pad))
        k_init, k_train, k_eval = split[:, 0], split[:, 1], split[:, 2]
        dim = self.encoding.model_dim
        states = jax.vmap(lambda k: family.init(k, dim, self.hidden))(k_init)
        failure = Failure(
            step=jnp.full((self.n_pad,), -1, jnp.int32),
            kind=jnp.zeros((self.n_pad,), jnp.int32),
            value=jnp.full((self.n_pad,), jnp.nan, jnp.float32),
        )
        return states, failure, k_train, k_eval

    def _draw(self, key, step):
        """One seed's batch and step key at `step` (the same whichever block or
        chunk layout draws it)."""
        kb, ks = jr.split(jr.fold_in(key, step))
        batch = self.target.sample(kb, self.settings.batch_size)
        return self.encoding.encode(batch), ks

    def _one_step(self, state, batch, key, step, end):
        """One seed's step, with `finite` (its logs and parameters are finite),
        `bounded` (no parameter beyond PARAM_LIMIT) and the largest parameter
        magnitude; steps from `end` change nothing and always pass."""
        family = self.family
        new, logs = family.step(state, batch, key)
        top = _max_abs(family.params(new))  # one pass: NaN, inf or size
        live = step < end
        finite = (_all_finite(logs) & jnp.isfinite(top)) | ~live
        bounded = (top <= PARAM_LIMIT) | ~live
        if self.may_pad:  # a cheap select: its predicate is only a step count
            new = _select(live, new, state)
        return new, finite, bounded, top, logs

    def chunk(self, states, failure: Failure, k_train, start):
        """`chunk_len` steps from `start` for every seed; returns the states, the
        failure records and each log's mean over the chunk."""
        s = self.settings
        n_blocks, block_len = s.block_layout
        chunk_len = s.chunk_len
        end = jnp.minimum(s.steps, start + chunk_len)  # steps from `end` are masked
        step_seeds = jax.vmap(self._one_step, in_axes=(0, 0, 0, None, None))
        seeds = jnp.arange(self.n_pad)

        def body(states, xs):
            batch, keys, step = xs
            states, finite, bounded, top, logs = step_seeds(
                states, batch, keys, step, end
            )
            return states, (finite, bounded, top, logs)

        def block(carry, b):
            states, f = carry
            # Every step's batch and key of the block at once: random-number
            # programs vectorised over (steps, seeds) instead of per step.
            steps = start + b * block_len + jnp.arange(block_len)
            draw = self._draw
            per_step = jax.vmap(lambda t: jax.vmap(lambda k: draw(k, t))(k_train))
            batches, keys = per_step(steps)
            new, (finite, bounded, top, logs) = jax.lax.scan(
                body, states, (batches, keys, steps)
            )
            # Failure is settled once per block, not per step (a per-step
            # select over every parameter and optimiser array, whose finiteness
            # test XLA recomputes for each element, costs a share of each step): a
            # seed that failed in the block is marked at its first failing step
            # and kept at its state from the block's start, the last one checked.
            failed = ~(finite & bounded)  # (steps, seeds)
            first = jnp.argmax(failed, axis=0)
            fresh = (f.step < 0) & jnp.any(failed, axis=0)
            was_finite = finite[first, seeds]
            f = Failure(
                step=jnp.where(fresh, steps[first], f.step),
                kind=jnp.where(
                    fresh, jnp.where(was_finite, RUNAWAY_PARAMS, DIVERGED), f.kind
                ),
                value=jnp.where(
                    fresh & was_finite, top[first, seeds].astype(f.value.dtype), f.value
                ),
            )
            states = jax.vmap(_select)(f.step < 0, new, states)
            return (states, f), logs

        (states, failure), logs = jax.lax.scan(
            block, (states, failure), jnp.arange(n_blocks)
        )
        logs = jax.tree_util.tree_map(lambda v: v.reshape(-1, *v.shape[2:]), logs)
        n_real = jnp.clip(s.steps - start, 1, chunk_len)
        mask = (jnp.arange(n_blocks * block_len) < n_real)[:, None]
        mean_logs = {
            k: jnp.sum(jnp.where(mask, v, 0.0), 0) / n_real for k, v in logs.items()
        }
        return states, failure, mean_logs

    @staticmethod
    def mark_runaway(failure: Failure, fresh, step, lost) -> Failure:
        """Mark the seeds `fresh` runaway at `step`, with their `lost` shares."""
        return Failure(
            step=jnp.where(fresh, step, failure.step),
            kind=jnp.where(fresh, RUNAWAY_SAMPLES, failure.kind),
            value=jnp.where(fresh, lost, failure.value).astype(failure.value.dtype),
        )

    # --- evaluation -----------------------------------------------------------

    def _draw_chunk(self, state, key, size: int):
        """`size` data-space samples of one seed."""
        ks, kd = jr.split(key)
        z = self.family.sample(state, ks, size)
        return self.encoding.decode(z, kd, self.family.output_kind)

    def samples(self, state, key, n: int):
        """`n` data-space samples of one seed, drawn `eval_chunk(n)` at a time
        (`lax.map` over chunks: the sampler's activations exist for one chunk at
        once; only the data-space samples, `n x dim`, are kept)."""
        size = self.eval_chunk(n)
        count = -(-n // size)

        def one(i):
            return self._draw_chunk(state, jr.fold_in(key, i), size)

        x = jax.lax.map(one, jnp.arange(count))
        return x.reshape(count * size, -1)[:n]

    @functools.lru_cache(maxsize=8)  # noqa: B019 (one Programs per run)
    def eval_chunk(self, n: int) -> int:
        """Samples per chunk of an evaluation of `n` samples: at most a
        snapshot's count and at most what keeps the sampler's activations, all
        seeds together, under EVAL_CHUNK_BYTES (from the traced sampler)."""
        most = min(n, self.settings.snapshot_eval_samples)
        probe = min(most, 1024)
        states, _, _, k_eval = jax.eval_shape(self.setup)
        draw = jax.vmap(lambda st, k: self._draw_chunk(st, k, probe))
        jaxpr = jax.make_jaxpr(draw)(states, k_eval)
        held = sum(_nbytes(v) for v in jax.tree_util.tree_leaves((states, k_eval)))
        per_sample = max(1, peak_bytes(jaxpr) - held) / probe
        return int(max(1, min(most, EVAL_CHUNK_BYTES // per_sample)))

    def reference(self, n: int) -> dict[str, jax.Array]:
        """The true samples every evaluation of `n` samples is scored against
        (`Evaluator.reference`): the same for every seed and snapshot, so a run
        prepares it once per sample count and passes it to `evaluate`."""
        return self.evaluator.reference(n)

    def evaluate(self, states, k_eval, step, ref: dict[str, jax.Array], n: int):
        """Every seed's `n` samples at `step`, scored against `ref`
        (`reference(n)`). Returns `(scores, samples)`."""

        def one(state, key):
            return self.samples(state, jr.fold_in(key, step), n)

        x = jax.vmap(one)(states, k_eval)
        scores = jax.vmap(lambda xi: self.evaluator.score(xi, ref))(x)
        return scores, x

    def floor(self, ref: dict[str, jax.Array], n: int) -> dict[str, jax.Array]:
        """The floor: `n` true samples, independent of `ref`, scored as a
        model's are (what a perfect model would get). It depends on the target
        and `n` only, so a run computes it once, for the count it reports."""
        return self.evaluator.score(self.evaluator.floor_samples(n), ref)

    # --- memory ---------------------------------------------------------------

    def memory_estimate(self) -> dict[str, int]:
        """Estimated peak bytes of a training chunk and of the largest
        evaluation (`memory.peak_bytes` of the traced programs)."""
        s = self.settings
        states, failure, k_train, k_eval = jax.eval_shape(self.setup)
        start = jax.ShapeDtypeStruct((), jnp.int32)
        train = peak_bytes(jax.make_jaxpr(self.chunk)(states, failure, k_train, start))
        evaluate = 0
        for n in {s.snapshot_eval_samples, s.eval_samples}:
            ref = jax.eval_shape(functools.partial(self.reference, n))
            jaxprs = (  # each one's inputs (the reference) counted in its peak
                jax.make_jaxpr(self.reference, static_argnums=0)(n),
                jax.make_jaxpr(self.evaluate, static_argnums=4)(
                    states, k_eval, start, ref, n
                ),
                jax.make_jaxpr(self.floor, static_argnums=1)(ref, n),
            )
            evaluate = max(evaluate, *(peak_bytes(j) for j in jaxprs))
        return {"training": train, "evaluation": evaluate}


def _nbytes(leaf) -> int:
    return math.prod(leaf.shape) * leaf.dtype.itemsize


class MemoryBudgetError(ValueError):
    """A run would need more memory than is available."""


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_memory(
    family: AbstractFamily,
    target: AbstractTarget,
    encoding: AbstractEncoding,
    settings: TrainSettings,
    hidden: int,
    budget: int,
    scope: str = "total",
    available: int | None = None,
) -> dict[str, int]:
    """Refuse a run whose estimated peak memory (`Programs.memory_estimate`)
    exceeds MEMORY_SHARE of the memory available (`memory.available_memory`, or
    `available` bytes). Returns the estimate; raises MemoryBudgetError naming
    `budget.params` and the largest budget that fits, found by bisection over
    the budget with the same estimate."""
    from .budget import count_params, solve_hidden

    where = "available memory"
    if available is None:
        available, where = available_memory()
    limit = MEMORY_SHARE * available
    dim = encoding.model_dim

    def need(h: int) -> dict[str, int]:
        return Programs(family, target, encoding, settings, h).memory_estimate()

    estimate = need(hidden)
    if max(estimate.values()) <= limit:
        return estimate
    part = max(estimate, key=estimate.get)
    head = (
        f"budget.params={budget} needs about {_gib(estimate[part])} for {part} "
        f"(estimated from the traced programs), more than {MEMORY_SHARE:.0%} of "
        f"the {_gib(available)} of {where}"
    )
    lo, hi = count_params(family, dim, 1, scope), budget
    if max(need(1).values()) > limit:
        raise MemoryBudgetError(
            f"{head}; no budget fits: lower train.seeds, train.batch_size or "
            "train.eval_samples"
        )
    while hi > lo * 1.02 and hi - lo > 1:  # fits(lo), not fits(hi); in log steps
        mid = int(math.sqrt(lo * hi))
        mid = min(max(mid, lo + 1), hi - 1)
        if max(need(solve_hidden(family, dim, mid, scope)).values()) <= limit:
            lo = mid
        else:
            hi = mid
    raise MemoryBudgetError(f"{head}; the largest budget that fits is about {lo}")


class History:
    """What the snapshots logged: the rows of history.csv (one per snapshot per
    seed), each snapshot's step and model histograms (`(seeds, *cells)`), and the
    family's log keys. A failed seed's losses and metrics are NaN from the
    snapshot it failed at."""

    def __init__(self, settings: TrainSettings):
        self.settings = settings
        self.rows: list[dict[str, float]] = []
        self.steps: list[int] = []
        self.hists: list[np.ndarray] = []
        self.log_keys: list[str] = []

    def add(self, step: int, scores: dict, logs: dict, kind: np.ndarray) -> None:
        """One snapshot at `step`: per-seed `scores` and `logs` (host arrays of
        the real seeds) and each seed's failure `kind`."""
        s = self.settings
        self.log_keys = list(logs)
        for i in range(s.seeds):
            ok = kind[i] == OK
            row: dict[str, float] = {
                "step": step,
                "seed": s.seed + i,
                "eval_samples": s.snapshot_eval_samples,
            }
            for k, v in logs.items():
                row[k] = float(v[i]) if ok else math.nan
            for k in METRICS:
                row[k] = float(scores[k][i]) if ok else math.nan
            row["diverged"] = int(kind[i] == DIVERGED)
            row["runaway"] = int(kind[i] in (RUNAWAY_PARAMS, RUNAWAY_SAMPLES))
            self.rows.append(row)
        self.steps.append(step)
        self.hists.append(np.asarray(scores["hist"]))

    @staticmethod
    def postfix(scores: dict, logs: dict, kind: np.ndarray) -> dict[str, str]:
        """The progress bar's figures: each loss and KL, means over live seeds."""
        ok = kind == OK
        post = {
            k: f"{np.mean(v[ok]):.3g}" if ok.any() else "nan" for k, v in logs.items()
        }
        post["kl"] = f"{np.mean(scores['kl'][ok]):.4f}" if ok.any() else "nan"
        return post


class Evaluation:
    """The compiled evaluation of `n` samples per seed and its prepared
    reference: called as `(states, k_eval, step) -> (scores, samples)`;
    `floor()` gives the floor's scores for the same `n` (host arrays,
    compiled and computed on first use)."""

    def __init__(self, prog: Programs, program: Callable, ref: dict, n: int):
        self.prog, self.program, self.ref, self.n = prog, program, ref, n
        self._floor: dict[str, np.ndarray] | None = None

    def __call__(self, states, k_eval, step):
        return self.program(states, k_eval, step, self.ref)

    def floor(self) -> dict[str, np.ndarray]:
        if self._floor is None:
            options = self.prog.family.compiler_options
            lowered = jax.jit(self.prog.floor, static_argnums=1).lower(self.ref, self.n)
            program = compile_with(lowered, options)
            self._floor = jax.device_get(program(self.ref))
        return self._floor


@dataclass
class Compiled:
    """A run's compiled programs and initial state (see `compile_programs`)."""

    prog: Programs
    states: Any  # per-seed initial states, failure records and keys
    failure: Failure
    k_train: jax.Array
    k_eval: jax.Array
    chunk: Callable  # (states, failure, k_train, start) -> (states, failure, logs)
    evaluate: Evaluation  # at the snapshot count
    # The final count's Evaluation (`evaluate` itself when the counts are equal),
    # compiled, and its floor computed, in a background thread.
    evaluate_final: Future
    mark_runaway: Callable
    seconds: float  # compile time (the background compile is added when awaited)

    def real_seeds(self, tree):
        """On the host, without the padding seeds (numpy: slicing device arrays
        would compile a program per shape)."""
        n = self.prog.settings.seeds
        return jax.tree_util.tree_map(lambda v: v[:n], jax.device_get(tree))

    def check_runaway(self, failure: Failure, scores: dict, step: int) -> Failure:
        """Mark the live seeds whose samples nearly all lie beyond the range
        (`RUNAWAY_INSIDE` of the target's in-range mass) runaway at `step`."""
        prog, n = self.prog, self.prog.settings.seeds
        p_inside = float(np.sum(prog.evaluator.p))  # the target's mass in range
        valid = 1.0 - np.asarray(scores["invalid"])
        inside = 1.0 - np.asarray(scores["lost"])
        fresh = (
            (self.real_seeds(failure.step) < 0)
            & (valid > 0)
            & (inside < RUNAWAY_INSIDE * p_inside * valid)
        )
        if not fresh.any():
            return failure
        pad = np.zeros(prog.n_pad, bool)
        pad[:n] = fresh
        lost = np.zeros(prog.n_pad, np.float32)
        lost[:n] = scores["lost"]
        return self.mark_runaway(failure, pad, step, lost)


def compile_programs(prog: Programs) -> Compiled:
    """Run `prog.setup`, compile the chunk and prepare the snapshot evaluation
    (its reference, then its program). The final evaluation (its own program
    and reference when its sample count differs) and the floor of the final
    count are prepared in a background thread: XLA compiles without the GIL, so
    it overlaps training."""
    s, options = prog.settings, prog.family.compiler_options
    sharding = seed_sharding(prog.n_dev)
    t0 = time.perf_counter()
    states, failure, k_train, k_eval = jax.jit(prog.setup, out_shardings=sharding)()
    # No buffer donation: an interrupted run must still hold its last states.
    # Every output has a leading seed axis: pin it to the inputs' sharding so the
    # compiled chunk accepts its own outputs (an empty or scalar leaf may
    # otherwise come back laid out differently).
    chunk_jit = jax.jit(prog.chunk, out_shardings=(sharding, sharding, sharding))
    chunk = compile_with(chunk_jit.lower(states, failure, k_train, 0), options)
    ref_jit = jax.jit(prog.reference, static_argnums=0)
    eval_jit = jax.jit(prog.evaluate, static_argnums=4)

    def compile_eval(n: int) -> Evaluation:
        # The reference is an argument, not part of the program: drawn and
        # sorted once per count, not at every snapshot.
        ref = compile_with(ref_jit.lower(n), options)()
        program = compile_with(eval_jit.lower(states, k_eval, 0, ref, n), options)
        return Evaluation(prog, program, ref, n)

    evaluate = compile_eval(s.snapshot_eval_samples)

    def prepare_final() -> Evaluation:
        final = evaluate
        if s.eval_samples != s.snapshot_eval_samples:
            final = compile_eval(s.eval_samples)
        final.floor()
        return final

    background = ThreadPoolExecutor(max_workers=1)
    evaluate_final = background.submit(prepare_final)
    background.shutdown(wait=False)
    return Compiled(
        prog=prog,
        states=states,
        failure=failure,
        k_train=k_train,
        k_eval=k_eval,
        chunk=chunk,
        evaluate=evaluate,
        evaluate_final=evaluate_final,
        mark_runaway=jax.jit(prog.mark_runaway, out_shardings=sharding),
        seconds=time.perf_counter() - t0,
    )


def train(
    family: AbstractFamily,
    target: AbstractTarget,
    encoding: AbstractEncoding,
    settings: TrainSettings,
    hidden: int,
    on_snapshot: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_trained: Callable[[TrainResult], None] | None = None,
) -> TrainResult:
    """Train `settings.seeds` replicates of `family` on `target` and evaluate them.

    Every snapshot (and so every history row) is scored on
    `snapshot_eval_samples` samples per seed; when training is complete the
    final evaluation scores `eval_samples` samples per seed (`final`).
    `on_trained` is called with the result of training (history, states,
    failures; `final` from the last snapshot, `floor` empty) before that final
    evaluation, so
    that a failure there loses no training. `should_stop` is asked before each
    chunk; when it returns True (or on KeyboardInterrupt) training ends with
    `interrupted` set and the result holds the completed snapshots.
    """
    from tqdm.auto import tqdm

    s = settings
    c = compile_programs(Programs(family, target, encoding, s, hidden))
    states, failure, history = c.states, c.failure, History(s)
    seconds = {"train": 0.0, "eval": 0.0}
    last = None  # the last snapshot's (scores on the host, samples)
    interrupted = False
    bar = tqdm(total=s.steps, unit="step", disable=not s.progress, dynamic_ncols=True)
    try:
        for start in range(0, s.n_chunks * s.chunk_len, s.chunk_len):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            t1 = time.perf_counter()
            states, failure, logs = c.chunk(states, failure, c.k_train, start)
            jax.block_until_ready(states)
            t2 = time.perf_counter()
            step = min(s.steps, start + s.chunk_len)
            scores, x = c.evaluate(states, c.k_eval, step)
            scores = c.real_seeds(scores)
            failure = c.check_runaway(failure, scores, step)
            last = (scores, x)
            seconds["train"] += t2 - t1
            seconds["eval"] += time.perf_counter() - t2
            kind, logs = c.real_seeds((failure.kind, logs))
            history.add(step, scores, logs, kind)
            if on_snapshot is not None:
                on_snapshot(step, scores)
            bar.update(step - bar.n)
            bar.set_postfix(history.postfix(scores, logs, kind), refresh=False)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (see run.py): keep what the completed snapshots hold.
        interrupted = True
    finally:
        bar.close()
    return _finish(c, states, failure, history, last, seconds, interrupted, on_trained)


def _finish(c, states, failure, history, last, seconds, interrupted, on_trained):
    """The TrainResult of a training loop: the last snapshot's scores, then, if
    training completed, the final evaluation (after `on_trained`)."""
    s = c.prog.settings
    fail = c.real_seeds(failure)
    failures = [_failure_record(fail, i) for i in range(s.seeds)]
    ok = fail.kind == OK
    timings = {"compile_seconds": c.seconds, "devices": c.prog.n_dev}

    def outcome(scores, floor, samples, n):
        if scores is None:
            final = {k: np.full(s.seeds, np.nan) for k in METRICS}
        else:
            final = {k: np.where(ok, scores[k], np.nan) for k in METRICS}
        return TrainResult(
            states=c.real_seeds(states),
            history=history.rows,
            final=final,
            samples=samples,
            diverged_step=fail.step,
            snapshot_steps=history.steps,
            snapshot_hists=np.stack(history.hists) if history.hists else np.zeros((0,)),
            timings={
                **timings,
                "train_seconds": seconds["train"],
                "eval_seconds": seconds["eval"],
            },
            interrupted=interrupted,
            steps_done=history.steps[-1] if history.steps else 0,
            floor={k: float(floor[k]) for k in METRICS} if floor else {},
            failures=failures,
            final_hists=None if scores is None else np.asarray(scores["hist"]),
            eval_samples=n,
            log_keys=history.log_keys,
        )

    if last is None:  # interrupted before the first snapshot
        return outcome(None, {}, None, 0)
    scores, x = last
    if interrupted:
        return outcome(scores, c.evaluate.floor(), None, s.snapshot_eval_samples)
    if on_trained is not None:  # the floor is the final count's: not yet known
        on_trained(outcome(scores, {}, None, s.snapshot_eval_samples))
    t_wait = time.perf_counter()
    final = c.evaluate_final.result()
    # waiting for the background compile counts as compile time
    timings["compile_seconds"] += time.perf_counter() - t_wait
    t3 = time.perf_counter()
    if final is not c.evaluate:
        scores, x = final(states, c.k_eval, history.steps[-1])
        scores = c.real_seeds(scores)
    samples = c.real_seeds(x)
    seconds["eval"] += time.perf_counter() - t3
    return outcome(scores, final.floor(), samples, s.eval_samples)


def _failure_record(fail: Failure, i: int) -> dict[str, Any] | None:
    """What `TrainResult.failures` holds for seed `i`."""
    kind = int(fail.kind[i])
    if kind == OK:
        return None
    record: dict[str, Any] = {"step": int(fail.step[i])}
    if kind == DIVERGED:
        return {"status": "diverged", **record}
    value = float(fail.value[i])
    what = "max_param" if kind == RUNAWAY_PARAMS else "lost"
    return {"status": "runaway", **record, what: value}
