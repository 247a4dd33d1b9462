"""What a job computes: the identity of a resolved config, finding a job's
earlier result by it (resume), and short job folder names.

Two jobs whose resolved configs differ only in keys that do not change what is
computed (`NOT_IDENTITY`: the seed list, the progress bar, the CPU devices, the
compilation cache) are replicates of one configuration: resume skips the second
and the report pools their seeds into one cell. Any other difference makes a
different configuration, which is never pooled. Job folder names play no part.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "NOT_IDENTITY",
    "identity",
    "identity_hash",
    "flatten",
    "differences",
    "seed_streams",
    "read_record",
    "find_complete",
    "rerun_reason",
    "run_name",
    "skip_complete",
    "short_dirname",
    "group_choices",
]

COMPLETE = ("ok", "partial")  # statuses whose results are kept (seeds may diverge)

# Dotted keys that do not change what a job computes. The seeds are not part of
# a configuration: jobs that differ only in them are replicates (see
# `seed_streams`). `train.devices` moves results by float rounding only.
NOT_IDENTITY = (
    "train.seed",
    "train.seeds",
    "train.progress",
    "train.devices",
    "jax_cache",
    "plots",
    "hydra",
)


def _normal(config: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON round trip: the live config and one read back from metrics.json
    then compare equal (tuples become lists, keys become strings)."""
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved `config` (nested dict, as stored in metrics.json) without the
    keys of `NOT_IDENTITY`."""
    out = _normal(config)
    for dotted in NOT_IDENTITY:
        *parents, last = dotted.split(".")
        node = out
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def identity_hash(config: Mapping[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the identity's canonical JSON."""
    text = json.dumps(identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (`{"model": {"lr": 1e-3}}` -> `{"model.lr": 1e-3}`);
    lists stay values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ between the identities of two configs."""
    fa, fb = flatten(identity(a)), flatten(identity(b))
    missing = object()
    return sorted(
        k for k in set(fa) | set(fb) if fa.get(k, missing) != fb.get(k, missing)
    )


def seed_streams(config: Mapping[str, Any], seeds: list[int]) -> list[int]:
    """The random stream of each seed of a job: its label. Seed `j` (labelled
    `j`, from `train.seed` on) uses `fold_in(key(0), j)` whatever the job's
    `train.seed` (`train.seed_keys`). `config` is accepted for the callers'
    symmetry; the stream needs only the label."""
    del config
    return [int(s) for s in seeds]


def read_record(folder: Path) -> dict[str, Any] | None:
    """A job folder's `metrics.json` with its `identity` (computed from `config`
    for files written before genbench stored it); None if absent or unreadable."""
    try:
        record = json.loads((Path(folder) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("identity") is None and isinstance(record.get("config"), dict):
        record["identity"] = identity_hash(record["config"])
    return record


def _covers(record: Mapping[str, Any], ident: str, streams: set) -> bool:
    """A complete result of configuration `ident` holding every seed stream."""
    if record.get("status") not in COMPLETE or record.get("identity") != ident:
        return False
    have = seed_streams(record.get("config") or {}, record.get("seeds") or [])
    return streams <= set(have)


def find_complete(
    out: Path, sweep_dir: Path, config: Mapping[str, Any], seeds: list[int]
) -> Path | None:
    """The folder of a complete result of `config` with all of `seeds`: the job's
    own folder `out` if it holds one, else any job folder below `sweep_dir`."""
    ident, streams = identity_hash(config), set(seed_streams(config, seeds))
    own = read_record(out)
    if own is not None and _covers(own, ident, streams):
        return Path(out)
    for file in sorted(Path(sweep_dir).rglob("metrics.json")):
        folder = file.parent
        if folder.resolve() == Path(out).resolve():
            continue
        record = read_record(folder)
        if record is not None and _covers(record, ident, streams):
            return folder
    return None


def _status_text(record: Mapping[str, Any]) -> str:
    status = record.get("status")
    if status == "interrupted":
        return (
            f"interrupted at step {record.get('steps_done')} of {record.get('steps')}"
        )
    if status == "duplicate":
        return f"duplicate, but {record.get('same_as')} holds no complete result now"
    error = str(record.get("error") or "").splitlines()
    return f"{status}" + (f" ({error[0]})" if error else "")


def rerun_reason(
    out: Path, sweep_dir: Path, config: Mapping[str, Any], seeds: list[int]
) -> str | None:
    """Why a sweep job runs although the sweep folder holds an earlier attempt at
    it (resume found no complete result); None for a job never tried before."""
    ident = identity_hash(config)
    own = read_record(out)
    if own is not None:
        if own.get("status") not in COMPLETE:
            return f"previous status {_status_text(own)}"
        if own.get("identity") != ident:
            keys = differences(own.get("config") or {}, config)
            shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
            return f"config differs in {shown or 'its identity'}"
        return (
            f"previous result has seeds {own.get('seeds')} of "
            f"train.seed={(own.get('config') or {}).get('train', {}).get('seed')}; "
            f"this job needs {seeds}"
        )
    if any((Path(out) / name).exists() for name in ("history.csv", "error.txt")):
        return "the previous attempt left no metrics.json"
    for file in sorted(Path(sweep_dir).rglob("metrics.json")):
        record = read_record(file.parent)
        if record is None or record.get("identity") != ident:
            continue
        if record.get("status") in COMPLETE:
            return f"{file.parent.name} has seeds {record.get('seeds')} only"
        return f"previous run {file.parent.name}: {_status_text(record)}"
    return None


def skip_complete(
    out: Path, sweep_dir: Path, config: dict[str, Any], choices: dict
) -> bool:
    """Whether a sweep job is skipped: its configuration and seeds already have a
    complete result in the sweep folder (found by identity, not by job number).
    Says why when a job that was tried before runs again, and records in `out`
    (status `duplicate`, `same_as`) when another job folder holds the result, so
    the folder is not taken for a job that never ran (the report skips it)."""
    from .artifacts import write_json

    train = config.get("train") or {}
    seed, n = int(train.get("seed", 0)), int(train.get("seeds", 1))
    seeds = list(range(seed, seed + n))
    found = find_complete(out, sweep_dir, config, seeds)
    if found is None:
        reason = rerun_reason(out, sweep_dir, config, seeds)
        if reason:
            print(f"genbench: re-running {out.name}: {reason}", file=sys.stderr)
        return False
    if found == out:
        print(f"genbench: skipped (complete, same config): {out}", file=sys.stderr)
        return True
    record = {
        "status": "duplicate",
        "same_as": os.path.relpath(found, out),
        "identity": identity_hash(config),
        "choices": choices,
        "seeds": seeds,
        "config": config,
    }
    write_json(out / "metrics.json", record)
    print(
        f"genbench: skipped (same configuration and seeds as {found.name}): {out}",
        file=sys.stderr,
    )
    return True


def short_dirname(name: str, limit: int = 160) -> str:
    """`name` if at most `limit` bytes, else its first bytes and a hash of the whole.

    For Hydra's job folder names (`hydra.sweep.subdir`, resolver
    `genbench.dirname`): list-valued overrides make `override_dirname` longer
    than a file name may be (255 bytes). The hash keeps different overrides apart
    and the same overrides in the same folder.
    """
    raw = name.encode()
    if len(raw) <= limit:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:10]
    head = raw[: limit - 11].decode(errors="ignore")
    return f"{head}_{digest}"


def run_name(
    model: str, target: str, bins: int, scope: str, params: int, steps: int, seeds: int
) -> str:
    """A single run's folder name (`hydra.run.dir`, resolver `genbench.run_name`):
    what tells two runs apart, `rbm_1d_trimodal_bins20_total1600_steps200_seeds2`.

    Characters other than letters, digits and `._=-` become `-` (a file name on
    any system); cut like `short_dirname`.
    """
    name = f"{model}_{target}_bins{bins}_{scope}{params}_steps{steps}_seeds{seeds}"
    return short_dirname(re.sub(r"[^A-Za-z0-9._=-]", "-", name))


def group_choices() -> dict[str, str | None]:
    """Hydra's choice of each config group of the running job (`model:
    vae_original`), Hydra's own and the schema groups left out: the report
    labels presets by them. Needs Hydra to be running."""
    from hydra.core.hydra_config import HydraConfig

    choices = HydraConfig.get().runtime.choices
    return {k: v for k, v in choices.items() if not k.startswith(("hydra/", "schema"))}
