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
from collections.abc import Iterable, Mapping
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
]


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


def _leaf_name(path) -> str:
    import jax

    name = jax.tree_util.keystr(path)
    return re.sub(r"[\[\]'\"]", "", re.sub(r"\]\[|\]\.|\.", ".", name)).strip(".")


def save_params(folder: Path, nets_per_seed: list[Any], seeds: list[int]) -> None:
    """Per seed: `seed_<i>.eqx` (Equinox leaves) and `seed_<i>.npz` (named arrays).

    The `.eqx` file loads with `eqx.tree_deserialise_leaves(path, like)` where
    `like` is `family.build(key, data_dim, hidden)`; the `.npz` needs only numpy.
    """
    import equinox as eqx
    import jax

    for seed, nets in zip(seeds, nets_per_seed, strict=True):
        buf = io.BytesIO()
        eqx.tree_serialise_leaves(buf, nets)
        atomic_write(Path(folder) / f"seed_{seed}.eqx", buf.getvalue())
        leaves = jax.tree_util.tree_flatten_with_path(nets)[0]
        arrays = {_leaf_name(p): np.asarray(v) for p, v in leaves}
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
