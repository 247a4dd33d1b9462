"""genbench's trainer measured at (model, budget, seeds) points (sections 1 and 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genbench.config import RunSpec
from genbench.train import train

from .common import BenchSettings, LoopRun, choose_steps, compose_spec, log, summarise


def run_trainer_once(spec: RunSpec) -> LoopRun:
    """One `genbench.train.train` call; its own timings of the compiled chunk.

    `train_seconds` covers the chunk's first execution, which is slower than
    later ones, as in a real run: short measurements understate the trainer
    (scripts/README.md, section 1, gives the size of the effect).
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
    flops_per_step: float  # one seed: `AbstractFamily.step_flops` (XLA's count)
    runs: list[LoopRun] = field(default_factory=list)
    n_discarded: int = 0

    def rate(self) -> dict[str, Any]:
        return summarise([r.rate for r in self.runs])

    def compile(self) -> dict[str, Any]:
        return summarise([r.compile_seconds for r in self.runs])


def count_flops(spec: RunSpec) -> float:
    """FLOPs of one training step of one seed: XLA's cost analysis of the
    family's lowered step (`AbstractFamily.step_flops`), at the run's batch."""
    dim, batch = spec.encoding.model_dim, spec.settings.batch_size
    return spec.family.step_flops(dim, spec.hidden, batch)


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
        """The point's record (created with its FLOP count on first use)."""
        key = (model, budget, n_seeds, devices, bins)
        if key not in self.points:
            spec = compose_spec(self.settings, model, budget, n_seeds, 100, bins=bins)
            self.points[key] = TrainerPoint(
                model,
                budget,
                n_seeds,
                devices,
                spec.hidden,
                spec.n_params,
                count_flops(spec),
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
        "discarded_calibration_runs": point.n_discarded,
    }
