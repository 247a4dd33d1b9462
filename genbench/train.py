"""The compiled training loop: `lax.scan` over snapshot chunks, seeds under `vmap`.

One call of the compiled chunk runs `chunk_len` steps for every seed with no host
round trip, in blocks of at most `BLOCK_MAX` steps whose batches and keys are drawn
at once before the block's steps run. Between chunks, Python evaluates (also
compiled), logs the history and moves the progress bar. A seed whose losses or
parameters stop being finite is marked diverged at that step and frozen at its
state from the start of that block (finite, at most `BLOCK_MAX` steps older); the
others go on.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .encoding import AbstractEncoding, OneHotBins
from .metrics import (
    MMD_SAMPLES,
    compat_kl,
    hellinger,
    histogram,
    js_divergence,
    kl_divergence,
    median_bandwidth,
    mmd_rbf,
    mode_shares,
    reverse_kl,
    sliced_wasserstein_sorted,
    sorted_projections,
    total_variation,
)
from .models.base import AbstractFamily
from .targets import AbstractTarget

__all__ = ["TrainSettings", "TrainResult", "Evaluator", "train", "seed_keys"]

# Every metric of a run, in the order of metrics.json and history.csv.
METRICS = (
    "kl",  # KL(P||Q), the headline (the specification's definition)
    "kl_reverse",  # KL(Q||P)
    "js",  # Jensen-Shannon divergence
    "tv",  # total variation distance
    "hellinger",  # Hellinger distance
    "w1",  # Wasserstein-1 (sliced in 2D)
    "mmd",  # MMD^2, RBF kernel, median-heuristic bandwidth
    "kl_compat",  # KL as other published benchmark code computes it
    "modes",  # mixture targets: modes holding >= MODE_SHARE of their weight
    "far",  # mixture targets: share of samples beyond 3 sd of every mode
    "lost",  # share of samples outside the grid or invalid
    "invalid",  # share of samples with no valid value or category
)
MODE_SHARE = 0.25  # a mode is covered when it holds >= 25 % of its true weight
# Steps per block of drawn data: long enough that the random-number programs run
# vectorised (one per block instead of a handful of tiny ones per step), short
# enough that a block's batches stay small (block x seeds x batch x dim).
BLOCK_MIN, BLOCK_MAX = 25, 64


@dataclass(frozen=True)
class TrainSettings:
    """Plain settings of a run (the `train` group; its schema is derived from this)."""

    steps: int = 20000
    batch_size: int = 256
    seed: int = 0
    seeds: int = 3
    snapshot_percent: float = 5.0
    eval_samples: int = 100_000
    snapshot_eval_samples: int = 10_000
    hist_bins: int | None = None
    progress: bool = True
    # Devices the seeds are split across (one XLA host device per CPU core, see
    # genbench/__init__.py); None: as many as there are, at most one per seed.
    devices: int | None = None

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
    history: list[dict[str, float]]
    final: dict[str, np.ndarray]
    samples: np.ndarray | None  # (seeds, eval_samples, dim), data space
    diverged_step: np.ndarray  # (seeds,), -1 where the seed never diverged
    snapshot_steps: list[int]
    snapshot_hists: np.ndarray  # (snapshots, seeds, *cells): model histograms
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # stopped by SIGINT/SIGTERM; holds completed snapshots
    steps_done: int = 0  # steps of the last completed snapshot
    # Each metric of true samples scored like a model's (same n): a perfect model.
    floor: dict[str, float] = field(default_factory=dict)


class Evaluator:
    """Scores samples against the target's exact histogram, on device.

    Continuous mode scores on the target's histogram grid (`hist_bins` cells per
    axis); binned mode on the encoding's own grid, with the exact probability of
    each cell (tails counted in the edge cells, as the encoding puts them there).
    """

    def __init__(
        self,
        target: AbstractTarget,
        encoding: AbstractEncoding | None = None,
        hist_bins: int | None = None,
    ):
        self.target = target
        self.encoding = encoding
        if isinstance(encoding, OneHotBins):
            self.edges = list(encoding.edges)
            self.p = encoding.bin_probs(target)
        else:
            self.edges = target.hist_edges(hist_bins)
            self.p = np.asarray(target.bin_probs(self.edges))

    def true_samples(self, n: int, key: jax.Array, of_p: bool = False) -> jax.Array:
        """`n` true samples (`of_p`: of P, the target's `reference_sample`); in
        binned mode quantised to their cell centres like the models' samples, so
        that sample distances measure the model, not the grid."""
        draw = self.target.reference_sample if of_p else self.target.sample
        x = draw(key, n)
        if isinstance(self.encoding, OneHotBins):
            x = self.encoding.decode(self.encoding.encode(x), None, "states")
        return x

    def reference(self, n: int) -> dict[str, jax.Array]:
        """`n` true samples with a fixed key (the same for every seed and snapshot),
        prepared once: sorted projections for W1, a subsample and bandwidth for MMD.
        """
        x = self.true_samples(n, jr.key(20240601), of_p=True)
        sub = x[:MMD_SAMPLES]
        return {
            "all": x,
            "sorted": sorted_projections(x),
            "sub": sub,
            "bandwidth": median_bandwidth(sub[:256]),
        }

    def floor_samples(self, n: int) -> jax.Array:
        """True samples independent of the reference: a perfect model's output."""
        return self.true_samples(n, jr.key(20240602))

    def score(self, x: jax.Array, ref: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Every metric of one seed's data-space samples `x` (n, dim)."""
        q = histogram(x, self.edges)
        p = jnp.asarray(self.p, q.dtype)
        nan = jnp.full((), jnp.nan, q.dtype)
        out = {
            "kl": kl_divergence(p, q),
            "kl_reverse": reverse_kl(p, q),
            "js": js_divergence(p, q),
            "tv": total_variation(p, q),
            "hellinger": hellinger(p, q),
            "w1": sliced_wasserstein_sorted(x, ref["sorted"]),
            "mmd": mmd_rbf(x[:MMD_SAMPLES], ref["sub"], ref["bandwidth"]),
            "kl_compat": compat_kl(x, ref["all"]),
            "modes": nan,
            "far": nan,
            "lost": 1.0 - jnp.sum(q),
            "invalid": jnp.mean(jnp.any(~jnp.isfinite(x), axis=1)),
            "hist": q,
        }
        t = self.target
        if t.modes is not None:
            shares, far = mode_shares(x, t.modes, t.mode_covs)
            covered = shares >= MODE_SHARE * jnp.asarray(t.mode_weights, q.dtype)
            out["modes"] = jnp.sum(covered).astype(q.dtype)
            out["far"] = far
        return out


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
    """Per-seed keys: seed i's stream does not depend on how many seeds run."""
    base = jr.key(seed)
    return jax.vmap(lambda i: jr.fold_in(base, i))(jnp.arange(n_seeds))


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


def _select(pred, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a, b)


def train(
    family: AbstractFamily,
    target: AbstractTarget,
    encoding: AbstractEncoding,
    settings: TrainSettings,
    hidden: int,
    on_snapshot: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `settings.seeds` replicates of `family` on `target` and evaluate them.

    `should_stop` is asked before each chunk; when it returns True (or on
    KeyboardInterrupt) training ends with `interrupted` set and the result holds
    the completed snapshots.
    """
    from tqdm.auto import tqdm

    s = settings
    n_dev, n_pad = seed_layout(s.seeds, s.devices)
    sharding = seed_sharding(n_dev)

    def real_seeds(tree):
        """On the host, without the padding seeds (numpy: slicing device arrays
        would compile a program per shape)."""
        return jax.tree_util.tree_map(lambda v: v[: s.seeds], jax.device_get(tree))

    data_dim = encoding.model_dim
    evaluator = Evaluator(target, encoding, s.hist_bins)
    chunk_len = s.chunk_len

    def draw(key, step):
        """One seed's batch and step key at `step` (the same whichever block or
        chunk layout draws it)."""
        kb, ks = jr.split(jr.fold_in(key, step))
        return encoding.encode(target.sample(kb, s.batch_size)), ks

    def one_step(state, batch, key, step, end):
        """One seed's step; `ok` is false where it made logs or parameters that
        are not finite (steps from `end` change nothing and are always ok)."""
        new, logs = family.step(state, batch, key)
        ok = _all_finite(logs) & _all_finite(family.params(new))
        if may_pad:  # a cheap select: its predicate is only a step count
            new = _select(step < end, new, state)
        return new, ok | (step >= end), logs

    def setup():
        """Per-seed keys and initial states, in one compiled program."""
        split = jax.vmap(lambda k: jr.split(k, 3))(seed_keys(s.seed, n_pad))
        k_init, k_train, k_eval = split[:, 0], split[:, 1], split[:, 2]
        states = jax.vmap(lambda k: family.init(k, data_dim, hidden))(k_init)
        diverged_at = jnp.full((n_pad,), -1, jnp.int32)
        return states, diverged_at, k_train, k_eval

    n_blocks, block_len = s.block_layout
    # Steps past a chunk's end or past `s.steps` exist only when blocks overrun.
    may_pad = s.n_chunks * n_blocks * block_len > s.steps

    def chunk(states, diverged_at, k_train, start):
        end = jnp.minimum(s.steps, start + chunk_len)  # steps from `end` are masked
        step_seeds = jax.vmap(one_step, in_axes=(0, 0, 0, None, None))

        def body(states, xs):
            batch, keys, step = xs
            states, ok, logs = step_seeds(states, batch, keys, step, end)
            return states, (ok, logs)

        def block(carry, b):
            states, div = carry
            # Every step's batch and key of the block at once: random-number
            # programs vectorised over (steps, seeds) instead of per step.
            steps = start + b * block_len + jnp.arange(block_len)
            per_step = jax.vmap(lambda t: jax.vmap(lambda k: draw(k, t))(k_train))
            batches, keys = per_step(steps)
            new, (ok, logs) = jax.lax.scan(body, states, (batches, keys, steps))
            # Divergence is settled once per block, not per step (a per-step
            # select over every parameter and optimiser array, whose finiteness
            # test XLA recomputes for each element, cost 1-3 % of a step): a
            # seed that failed in the block is marked at its first failing step
            # and kept at its state from the block's start, the last one checked.
            failed = ~ok  # (steps, seeds)
            newly = (div < 0) & jnp.any(failed, axis=0)
            div = jnp.where(newly, steps[jnp.argmax(failed, axis=0)], div)
            states = jax.vmap(_select)(div < 0, new, states)
            return (states, div), logs

        (states, diverged_at), logs = jax.lax.scan(
            block, (states, diverged_at), jnp.arange(n_blocks)
        )
        logs = jax.tree_util.tree_map(lambda v: v.reshape(-1, *v.shape[2:]), logs)
        n_real = jnp.clip(s.steps - start, 1, chunk_len)
        mask = (jnp.arange(n_blocks * block_len) < n_real)[:, None]
        mean_logs = {
            k: jnp.sum(jnp.where(mask, v, 0.0), 0) / n_real for k, v in logs.items()
        }
        return states, diverged_at, mean_logs

    def evaluate(states, k_eval, step, n):
        ref = evaluator.reference(n)

        def one(state, key):
            ks, kd = jr.split(jr.fold_in(key, step))
            z = family.sample(state, ks, n)
            x = encoding.decode(z, kd, family.output_kind)
            return evaluator.score(x, ref), x

        scores, x = jax.vmap(one)(states, k_eval)
        floor = evaluator.score(evaluator.floor_samples(n), ref)
        return scores, x, floor

    t0 = time.perf_counter()
    states, diverged_at, k_train, k_eval = jax.jit(setup, out_shardings=sharding)()
    # No buffer donation: an interrupted run must still hold its last states.
    # Every output has a leading seed axis: pin it to the inputs' sharding so the
    # compiled chunk accepts its own outputs (an empty or scalar leaf may
    # otherwise come back laid out differently).
    chunk_jit = jax.jit(chunk, out_shardings=(sharding, sharding, sharding))
    options = family.compiler_options
    chunk_c = compile_with(chunk_jit.lower(states, diverged_at, k_train, 0), options)
    eval_jit = jax.jit(evaluate, static_argnums=3)

    def compile_eval(n: int):
        return compile_with(eval_jit.lower(states, k_eval, 0, n), options)

    eval_snap_c = compile_eval(s.snapshot_eval_samples)
    # The final evaluation's program (its own sample count) compiles in the
    # background while the chunks train: XLA compiles without the GIL.
    background = ThreadPoolExecutor(max_workers=1)
    eval_final = background.submit(compile_eval, s.eval_samples)
    background.shutdown(wait=False)
    timings = {"compile_seconds": time.perf_counter() - t0, "devices": n_dev}

    history: list[dict[str, float]] = []
    snap_steps: list[int] = []
    snap_hists: list[np.ndarray] = []
    t_train = t_eval = 0.0
    samples = None
    scores = floor = None
    interrupted = False
    bar = tqdm(total=s.steps, unit="step", disable=not s.progress, dynamic_ncols=True)
    try:
        for c in range(s.n_chunks):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            start = c * chunk_len
            t1 = time.perf_counter()
            states, diverged_at, logs = chunk_c(states, diverged_at, k_train, start)
            jax.block_until_ready(states)
            t2 = time.perf_counter()
            step = min(s.steps, start + chunk_len)
            last = c == s.n_chunks - 1
            if last:
                t_wait = time.perf_counter()
                program = eval_final.result()
                # waiting for the background compile counts as compile time
                timings["compile_seconds"] += time.perf_counter() - t_wait
                t2 += time.perf_counter() - t_wait
            else:
                program = eval_snap_c
            scores, x, floor = program(states, k_eval, step)
            scores, floor = real_seeds(scores), jax.device_get(floor)
            if last:
                samples = real_seeds(x)
            t3 = time.perf_counter()
            t_train += t2 - t1
            t_eval += t3 - t2
            div, logs = real_seeds((diverged_at, logs))
            for i in range(s.seeds):
                ok = div[i] < 0
                row: dict[str, float] = {"step": step, "seed": s.seed + i}
                for k, v in logs.items():
                    row[k] = float(v[i]) if ok else math.nan
                for k in METRICS:
                    row[k] = float(scores[k][i]) if ok else math.nan
                row["diverged"] = int(not ok)
                history.append(row)
            snap_steps.append(step)
            snap_hists.append(np.asarray(scores["hist"]))
            if on_snapshot is not None:
                on_snapshot(step, scores)
            bar.update(step - bar.n)
            ok = div < 0
            post = {
                k: f"{np.mean(v[ok]):.3g}" if ok.any() else "nan"
                for k, v in logs.items()
            }
            post["kl"] = f"{np.mean(scores['kl'][ok]):.4f}" if ok.any() else "nan"
            bar.set_postfix(post, refresh=False)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (see run.py): keep what the completed snapshots hold.
        interrupted = True
    finally:
        bar.close()
    timings.update(train_seconds=t_train, eval_seconds=t_eval)
    div, states = real_seeds((diverged_at, states))
    if scores is None:
        final = {k: np.full(s.seeds, np.nan) for k in METRICS}
    else:
        final = {k: np.where(div < 0, scores[k], np.nan) for k in METRICS}
    floor_final = {} if scores is None else {k: float(floor[k]) for k in METRICS}
    return TrainResult(
        states=states,
        history=history,
        final=final,
        samples=samples,
        diverged_step=div,
        snapshot_steps=snap_steps,
        snapshot_hists=np.stack(snap_hists) if snap_hists else np.zeros((0,)),
        timings=timings,
        interrupted=interrupted,
        steps_done=snap_steps[-1] if snap_steps else 0,
        floor=floor_final,
    )
