"""Shared helpers: compose configs as the CLI does (Hydra compose API), run the CLI."""

from __future__ import annotations

import os

# Tests check numbers, not speed: XLA's cheapest optimisation level halves compile
# time, which dominates these tiny runs. Set before JAX is imported; subprocesses
# of the CLI tests inherit it.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from genbench.config import register_configs
from genbench.session import compilation_cache

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "genbench" / "conf"
TARGETS = sorted(p.stem for p in (CONF / "target").glob("*.yaml"))
ALL_MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def variant_of(name: str, folder: Path = CONF / "model") -> str | None:
    """The model file a variant (a preset of a family) builds on: a variant's
    `defaults` name another file of its folder (`gan_original`: `- gan`); a
    family's do not. Names play no part (a family may be `real_nvp`)."""
    import yaml

    text = yaml.safe_load((folder / f"{name}.yaml").read_text()) or {}
    files = {p.stem for p in folder.glob("*.yaml")}
    bases = [d for d in text.get("defaults", []) if d in files]
    return bases[0] if bases else None


MODELS = [m for m in ALL_MODELS if variant_of(m) is None]  # the families
MODEL_VARIANTS = [m for m in ALL_MODELS if variant_of(m) is not None]  # presets
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
BUDGETS = sorted(p.stem for p in (CONF / "budget").glob("*.yaml"))


def _is_binary(name: str) -> bool:
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from genbench.targets import AbstractBinaryTarget

    path = OmegaConf.load(CONF / "target" / f"{name}.yaml")["_target_"]
    return issubclass(get_class(path), AbstractBinaryTarget)


# Bit-vector targets (scored over all states, never binned) and the others
# (scored on the cells of a histogram grid, continuous or binned).
BINARY_TARGETS = [t for t in TARGETS if _is_binary(t)]
GRID_TARGETS = [t for t in TARGETS if t not in BINARY_TARGETS]

register_configs()

# One persistent compilation cache for the whole session: many tests compile the
# same programs (the same config trained twice, in-process and by the CLI, by
# several sweep jobs). The first process to import this creates it; pytest-xdist
# workers and CLI subprocesses inherit it through the environment. Results do not
# depend on it (a cached program is the same program).
if "GENBENCH_TEST_JAX_CACHE" not in os.environ:
    os.environ["GENBENCH_TEST_JAX_CACHE"] = tempfile.mkdtemp(prefix="genbench-jax-")
    atexit.register(shutil.rmtree, os.environ["GENBENCH_TEST_JAX_CACHE"], True)
JAX_CACHE = os.environ["GENBENCH_TEST_JAX_CACHE"]
compilation_cache(JAX_CACHE)  # the same settings as a run's `jax_cache`

# Tiny but complete runs: every code path, a few seconds each.
FAST = [
    "train.steps=200",
    "train.seeds=2",
    "train.snapshot_percent=50",
    "train.eval_samples=2000",
    "train.snapshot_eval_samples=2000",
    "train.progress=false",
    f"jax_cache={JAX_CACHE}",
]


# The empirical target needs a data file: two blobs, written once per process.
EMPIRICAL_FILE = Path(tempfile.mkdtemp(prefix="genbench-data-")) / "blobs.npy"
atexit.register(shutil.rmtree, EMPIRICAL_FILE.parent, True)
_rng = np.random.default_rng(0)
np.save(
    EMPIRICAL_FILE,
    np.concatenate(
        [
            _rng.normal([-1.0, 0.5], 0.4, (2000, 2)),
            _rng.normal([1.0, -0.5], 0.6, (2000, 2)),
        ]
    ),
)
# What a target needs beyond its YAML file to be built.
TARGET_ARGS = {"empirical": [f"target.path={EMPIRICAL_FILE}"]}


def target_args(name: str) -> list[str]:
    """`target=<name>` and the overrides it needs (a data file for `empirical`)."""
    return [f"target={name}", *TARGET_ARGS.get(name, [])]


def rotation(*axes: list[str]):
    """Every combination of `axes` as pytest params. The default suite runs those
    whose indices sum to a multiple of the last axis's length: each combination
    of the other axes with one value of the last, in rotation, so every value of
    every axis runs. The others are marked `slow` (`pytest -m slow` runs them):
    each combination costs a compilation."""
    import itertools

    out = []
    for idx in itertools.product(*(range(len(a)) for a in axes)):
        values = [a[i] for a, i in zip(axes, idx, strict=True)]
        slow = sum(idx) % len(axes[-1]) != 0
        marks = [pytest.mark.slow] if slow else []
        out.append(pytest.param(*values, marks=marks, id="-".join(map(str, values))))
    return out


def make_target(name: str):
    """The target `target=<name>` of conf/target, built as a run builds it."""
    from hydra.utils import instantiate

    return instantiate(compose_cfg(*target_args(name)).target, _convert_="all")


def state_bits(states, d: int) -> np.ndarray:
    """The `d` bits of each integer state, most significant first: `(n, d)` 0/1."""
    return ((np.asarray(states)[:, None] >> np.arange(d - 1, -1, -1)) & 1).astype(
        np.float32
    )


def normal_rows(n: int = 1000, dim: int = 2, seed: int = 0) -> np.ndarray:
    """`(n, dim)` Gaussian rows, a data file's content for the empirical target."""
    rng = np.random.default_rng(seed)
    return rng.normal([0.5, -1.0][:dim], [1.0, 2.0][:dim], (n, dim))


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None):
    """Run `python -m genbench.run` as a user would; returns CompletedProcess."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    full_env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [sys.executable, "-m", "genbench.run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def compose_config():
    return compose_cfg
