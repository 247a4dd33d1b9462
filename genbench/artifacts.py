"""Atomic writes of a run's results: metrics.json, history.csv, samples, parameters.

Every file is written to a temporary name in the same folder and renamed into
place, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write",
    "write_json",
    "write_csv",
    "save_samples",
    "save_params",
    "environment",
    "seed_stats",
    "t_interval",
    "PLOTS",
]

# `plots=`: the figures a run draws into plots/. all: every figure; final: those
# of the final samples (target vs model, 2D scatter, bit patterns); none: no
# figure (a big sweep's jobs; the sweep's own figures are drawn regardless).
PLOTS = ("all", "final", "none")


def _umask() -> int:
    """The process's umask (reading it means setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` via a temporary file and a rename. The file gets
    the mode a plain `open` would give (0o666 less the umask: 0644 under the
    usual 022), not mkstemp's private 0600, so collaborators can read results."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/Inf to null."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n")


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV of dict rows: the union of their keys as columns; NaN/None empty."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if _clean(v) is None else v) for k, v in row.items()})
    return buf.getvalue()


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    atomic_write(path, csv_text(rows))


def save_samples(path: Path, samples: np.ndarray, seeds: list[int]) -> None:
    """`samples` (seeds, n, dim) in data space, with the seed numbers."""
    buf = io.BytesIO()
    np.savez_compressed(buf, samples=samples, seeds=np.asarray(seeds))
    atomic_write(path, buf.getvalue())


def leaf_name(path) -> str:
    """The name of a parameter array in `seed_<i>.npz`: its path in the networks'
    tree, dotted (`generator.hidden.weight`)."""
    import jax

    name = jax.tree_util.keystr(path)
    return re.sub(r"[\[\]'\"]", "", re.sub(r"\]\[|\]\.|\.", ".", name)).strip(".")


def save_params(folder: Path, nets_per_seed: list[Any], seeds: list[int]) -> None:
    """Per seed: `seed_<i>.eqx` (Equinox leaves) and `seed_<i>.npz` (named arrays).

    The `.eqx` file loads with `eqx.tree_deserialise_leaves(path, like)` where
    `like` is `family.params(family.init(key, data_dim, hidden))` (with
    `model.ema`, a GAN's networks hold an EMA generator that `build` lacks); the
    `.npz` needs only numpy (`runs.load_run` reads it).
    """
    import equinox as eqx
    import jax

    for seed, nets in zip(seeds, nets_per_seed, strict=True):
        buf = io.BytesIO()
        eqx.tree_serialise_leaves(buf, nets)
        atomic_write(Path(folder) / f"seed_{seed}.eqx", buf.getvalue())
        leaves = jax.tree_util.tree_flatten_with_path(nets)[0]
        arrays = {leaf_name(p): np.asarray(v) for p, v in leaves}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(Path(folder) / f"seed_{seed}.npz", buf.getvalue())


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Library versions, platform and git commit, for reproducibility."""
    from importlib import metadata

    versions = {}
    for pkg in ("genbench", "jax", "jaxlib", "equinox", "optax", "hydra-core", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": _git_commit(),
    }


def t_interval(
    mean: float, std: float, n: int, bounds: tuple[float, float] | None = None
) -> list[float] | None:
    """95 % interval of a mean over `n` seeds, within the metric's range.

    The Student-t interval `mean +- t_{0.975, n-1} std / sqrt(n)`, intersected
    with `bounds` (the range the metric's values, and so its true mean, lie in;
    `metrics.METRIC_RANGES`). Cutting away only values the true mean cannot
    take keeps the coverage of the t-interval exactly. None for fewer than 2
    seeds.
    """
    from scipy import stats

    if n < 2:
        return None
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return [float(lo), float(hi)]


def seed_stats(
    values: np.ndarray,
    floor: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Per-seed values (NaN for failed seeds) with statistics over the rest.

    `mean`, `std` (ddof 1) and `ci95`, the 95 % interval of the mean over seeds
    (`t_interval`, within `bounds`, the metric's range; null with fewer than 2
    seeds). `floor`: the same metric for true samples (a perfect model).
    """
    v = np.asarray(values, dtype=float)
    ok = v[np.isfinite(v)]
    mean = float(ok.mean()) if ok.size else None
    std = float(ok.std(ddof=1)) if ok.size > 1 else (0.0 if ok.size else None)
    ci = t_interval(mean, std, int(ok.size), bounds) if ok.size > 1 else None
    return {
        "per_seed": v,
        "mean": mean,
        "std": std,
        "ci95": ci,
        "n": int(ok.size),
        "floor": floor,
    }


def save_training(out: Path, family, result, seeds: list[int]) -> None:
    """`history.csv` and `params/` of a training result (states with a leading
    seed axis), written before the final evaluation."""
    if result.history:
        write_csv(out / "history.csv", result.history)
    nets = [family.params(_index(result.states, i)) for i in range(len(seeds))]
    save_params(out / "params", nets, seeds)


class TrainingSaver:
    """`save_training` as `train`'s `on_trained` callback: remembers whether it
    ran and the seconds it took (metrics.json's `artifacts_seconds`)."""

    def __init__(self, out: Path, family, seeds: list[int]):
        self.out, self.family, self.seeds = out, family, seeds
        self.saved, self.seconds = False, 0.0

    def __call__(self, result) -> None:
        t = time.perf_counter()
        save_training(self.out, self.family, result, self.seeds)
        self.saved, self.seconds = True, self.seconds + time.perf_counter() - t


def write_run(out: Path, spec, cfg, result, saver, flops, choices, started) -> dict:
    """Every artifact of a trained run under `out` (what `saver` has not saved
    yet, samples, the figures `cfg.plots` asks for, metrics.json); returns
    metrics.json's content.
    `started`: the job's start (`time.time()`, `time.perf_counter()`) and
    training's (`time.perf_counter()`), for metrics.json's `timing`."""
    from .plots import plot_run

    (start_unix, start), t0 = started[:2], started[2]
    if not saver.saved:
        saver(result)
    t1 = time.perf_counter()
    if result.samples is not None:
        save_samples(out / "samples.npz", result.samples, saver.seeds)
    t2 = time.perf_counter()
    which = cfg.get("plots", "all")
    if which == "none":  # no matplotlib at all; the record still needs the grid
        edges = spec.target.evaluator(spec.encoding, spec.settings.hist_bins).edges
    else:
        edges = plot_run(out / "plots", spec, result, cfg.budget.params, which)
    t3 = time.perf_counter()
    timing = {
        "wall_seconds": t3 - t0,
        "setup_seconds": t0 - start,  # config, budget solve, memory check
        "artifacts_seconds": saver.seconds + t2 - t1,  # history, params, samples
        "plots_seconds": t3 - t2,
        "start_time": start_unix,  # Unix time of the job's start
        "end_time": start_unix + t3 - start,
    }
    payload = run_record(spec, cfg, result, edges, flops, choices, timing)
    write_json(out / "metrics.json", payload)
    return payload


def discard_refused(out: Path) -> None:
    """Remove what Hydra wrote for a refused single run (`.hydra/`, `run.log`),
    then the run folder and the parents Hydra made (`outputs/<date>/`) if
    that leaves them empty; never above the working directory. Other files
    (a `hydra.run.dir` that already held something) stay."""
    import shutil

    shutil.rmtree(out / ".hydra", ignore_errors=True)
    (out / "run.log").unlink(missing_ok=True)
    cwd = Path.cwd().resolve()
    folder = out.resolve()
    while folder != cwd and cwd in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty
            return
        folder = folder.parent


def _index(tree, i: int):
    import jax

    return jax.tree_util.tree_map(lambda x: x[i], tree)


def write_job_record(
    out: Path, status: str, error: str, config: dict | None, choices: dict
) -> None:
    """metrics.json of a sweep job that did not run (`config_error`) or raised
    (`error`): why, and what it was asked to compute."""
    from .identity import identity_hash

    record = {
        "status": status,
        "error": error,
        "identity": identity_hash(config) if config else None,
        "choices": choices,
        "config": config,
    }
    write_json(out / "metrics.json", record)


def step_flops_in_background(spec) -> Future:
    """A step's FLOPs (`AbstractFamily.step_flops`, for the training-budget
    figures), traced in a thread beside the compilation instead of after it."""
    background = ThreadPoolExecutor(max_workers=1)
    s = spec.settings
    flops = background.submit(
        spec.family.step_flops, spec.encoding.model_dim, spec.hidden, s.batch_size
    )
    background.shutdown(wait=False)
    return flops


def run_record(
    spec, cfg, result, edges, flops, choices: dict, timing: dict[str, float]
) -> dict[str, Any]:
    """metrics.json of a run: its status, sizes, per-seed outcome, every metric's
    statistics (`seed_stats`), timings, identity and the resolved config.
    `edges` are the in-range cell edges per axis it was scored on (bit-vector
    targets: None); `flops` is the future of `family.step_flops`; `timing`: the
    seconds of the job's parts outside `train` (wall, setup, artifacts, plots) and
    its start and end (Unix time), merged with the trainer's timings."""
    from .config import resolved
    from .identity import identity_hash
    from .metrics import METRIC_RANGES

    s = spec.settings
    seeds = list(range(s.seed, s.seed + s.seeds))
    config = resolved(cfg)
    binary = spec.encoding.bits
    # the modes of a mixture: its components of positive weight
    modes_total = None if spec.target.modes is None else len(spec.target.modes)
    ranges = {**METRIC_RANGES, "modes": (0.0, modes_total or 0.0)}
    metrics = {
        k: seed_stats(v, result.floor.get(k), ranges[k])
        for k, v in result.final.items()
    }
    n_ok = int((result.diverged_step < 0).sum())
    status = "ok" if n_ok == s.seeds else ("failed" if n_ok == 0 else "partial")
    if result.interrupted:
        status = "interrupted"
    return {
        "status": status,
        "model": spec.family.name,
        "target": spec.target.name,
        "encoding": spec.encoding.mode,
        "bins": cfg.bins.n,
        "decode": spec.encoding.decode_label(spec.family.output_kind),
        "budget": {"params": cfg.budget.params, "scope": cfg.budget.scope},
        "hidden": spec.hidden,
        "n_params": spec.n_params,
        "n_params_total": spec.n_params_total,
        "n_params_sampler": spec.n_params_sampler,
        "steps": s.steps,
        "steps_done": result.steps_done,
        "batch_size": s.batch_size,
        "flops_per_step": _flops(flops),
        "seeds": seeds,
        "seed_status": [
            {"seed": seed, **(failure or {"status": "ok"})}
            for seed, failure in zip(seeds, result.failures, strict=True)
        ],
        # the final evaluation's sample count (a snapshot's if interrupted)
        "eval_samples": result.eval_samples,
        # every row of history.csv is scored on this many (its eval_samples)
        "snapshot_eval_samples": s.snapshot_eval_samples,
        "modes_total": modes_total,
        "hist_bins": None if binary else [len(e) - 1 for e in edges],
        # bit-vector targets: valid patterns, and the samples coverage counts in
        "patterns_total": spec.target.n_patterns if binary else None,
        "coverage_samples": spec.target.coverage_samples if binary else None,
        "metrics": metrics,
        "timing": {**result.timings, **timing},
        "identity": identity_hash(config),
        "choices": choices,
        "config": config,
        "environment": environment(),
    }


def _flops(future) -> float | None:
    """A step's FLOPs per seed, or None if XLA's cost analysis gave none."""
    try:
        value = future.result()
    except Exception:  # a cost analysis this backend lacks: no figure, no failure
        return None
    return value if math.isfinite(value) else None
