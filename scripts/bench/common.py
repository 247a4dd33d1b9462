"""What every section shares: the settings, timing records, summaries, formats."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genbench.config import RunSpec, build_run

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("compare", "runs", "scaling", "study")
STUDY_CASES = ("original", "gan", "grid")


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
    study_cases: tuple[str, ...] = STUDY_CASES  # sweeps of the study section
    study_repeats: int = 1  # each sweep is minutes long: once by default
    study_overrides: tuple[str, ...] = ()  # extra overrides of every study job


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
    from hydra import compose, initialize_config_dir

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


def describe_environment() -> dict[str, Any]:
    """Versions, machine and git state (the working tree may differ from HEAD)."""
    import equinox
    import jax
    import jaxlib
    import optax

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            )
            return out.stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

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
