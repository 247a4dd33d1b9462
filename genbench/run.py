"""Hydra entry point: `python -m genbench.run model=rbm target=1d_trimodal`.

Wiring only: config -> objects (`config.build_run`), `train.train`, then the
artifacts (`artifacts`), figures (`plots.plot_run`) and console lines
(`report`) of one run in Hydra's output directory. What the process learns
across jobs (failures, a stop signal) is `session.SESSION`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import report
from .config import register_configs
from .session import SESSION, compilation_cache, stop_on_signal

register_configs()
USER_ERRORS = (ValueError, NotImplementedError)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from . import artifacts
    from .config import build_run, resolved
    from .identity import skip_complete
    from .train import check_memory

    started = time.time(), time.perf_counter()  # the job's start-up begins
    hc = HydraConfig.get()
    out, job = Path(hc.runtime.output_dir), " ".join(hc.overrides.task)
    multirun = hc.mode == RunMode.MULTIRUN
    SESSION.multirun |= multirun
    SESSION.sweep_dir = hc.sweep.dir if multirun else SESSION.sweep_dir
    for noisy in ("jax._src.xla_bridge", "matplotlib", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    compilation_cache(cfg.get("jax_cache"))
    if SESSION.stop:  # Ctrl-C during an earlier job of this sweep: run nothing more
        report.say(f"not run (interrupted): {job}")
        SESSION.failed.append(f"interrupted before it started: {job}")
        return None
    if cfg.train.get("devices") is None and hc.launcher.get("n_jobs", 1) != 1:
        cfg.train.devices = 1  # parallel local workers: one core each
    choices, config = _choices(), None
    try:
        config = resolved(cfg)
        if multirun and skip_complete(out, Path(hc.sweep.dir), config, choices):
            SESSION.skipped.append(str(out))
            return None
        s = spec = build_run(cfg)  # refuses, before compiling, what would not fit:
        budget = cfg.budget.params, cfg.budget.scope
        check_memory(s.family, s.target, s.encoding, s.settings, s.hidden, *budget)
    except USER_ERRORS as err:
        # A configuration error: one readable line, no traceback, nothing written
        # (the full traceback with HYDRA_FULL_ERROR=1, as for Hydra's own errors).
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        report.say(f"error: {err}")
        if multirun:  # in a sweep the job's folder records why it did not run
            return _failed(out, job, "config_error", str(err), config, choices)
        SESSION.failed.append(str(err))
        return artifacts.discard_refused(out)
    try:  # in a sweep, a job that raises is recorded and the others go on
        return run_spec(spec, cfg, out, started)
    except Exception as err:
        if not multirun or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        artifacts.atomic_write(out / "error.txt", traceback.format_exc())
        error = f"{type(err).__name__}: {err}"
        report.say(
            f"error: job {job!r} failed: {error} (traceback in {out / 'error.txt'})"
        )
        return _failed(out, job, "error", error, config, choices)


def _failed(out: Path, job: str, status: str, error: str, config, choices) -> None:
    """Record in a sweep job's folder why it did not run or failed."""
    from .artifacts import job_record, write_json

    record = job_record(status, error, config, choices)
    write_json(out / "metrics.json", record)
    SESSION.failed.append(f"{job}: {error}")


def _choices() -> dict[str, str | None]:
    """Hydra's choice of each config group (`model: vae_original`), Hydra's own
    groups left out: the report labels presets by them."""
    choices = HydraConfig.get().runtime.choices
    return {k: v for k, v in choices.items() if not k.startswith(("hydra/", "schema"))}


def run_spec(
    spec, cfg: DictConfig, out: Path, started: tuple[float, float] | None = None
) -> float | None:
    """Train, write every artifact under `out`, print the summary; returns mean KL.

    `started`: the job's start as (`time.time()`, `time.perf_counter()`), for the
    start-up part of metrics.json's `timing` (None: the start of this call)."""
    from . import artifacts
    from .train import train

    t0 = time.perf_counter()
    s, started = spec.settings, (*(started or (time.time(), t0)), t0)
    saver = artifacts.TrainingSaver(
        out, spec.family, list(range(s.seed, s.seed + s.seeds))
    )
    # A step's FLOPs (XLA's cost analysis, for the training-budget figures),
    # traced beside the compilation instead of after it.
    background = ThreadPoolExecutor(max_workers=1)
    flops = background.submit(
        spec.family.step_flops, spec.encoding.model_dim, spec.hidden, s.batch_size
    )
    background.shutdown(wait=False)
    report.say(report.compiling(spec, cfg.budget.params, cfg.budget.scope))
    result = train(
        *(spec.family, spec.target, spec.encoding, s, spec.hidden),
        should_stop=lambda: SESSION.stop,
        on_trained=saver,  # history and parameters, before the final evaluation
    )
    if SESSION.signals > 1:  # a second signal ended training: stop at once
        raise KeyboardInterrupt
    if not result.snapshot_steps:
        report.say("interrupted before the first snapshot; nothing written")
        SESSION.failed.append("interrupted before the first snapshot")
        return None
    payload = artifacts.write_run(
        out, spec, cfg, result, saver, flops, _choices(), started
    )
    print(report.run_summary(payload, out))
    if payload["status"] == "failed":
        SESSION.failed.append(f"every seed diverged or ran away: {out}")
    if result.interrupted:
        SESSION.failed.append(f"interrupted at step {result.steps_done}: {out}")
    return payload["metrics"]["kl"]["mean"]


def cli() -> int:
    """Console entry: run Hydra, then exit non-zero if any job failed.

    Exit codes: 0 all good (some seeds may have diverged), 1 a job failed (bad
    configuration, every seed diverged or ran away) or Hydra refused its
    arguments, 130 interrupted (SIGINT/SIGTERM).
    """
    try:
        with stop_on_signal():
            main()
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, not even waiting
        report.say("interrupted")  # for the background compile threads
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(130)
    except ValueError as err:  # Hydra's own argument check (`-m ... --cfg job`)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        report.say(f"error: {err}")
        return 1
    return SESSION.exit_code()


if __name__ == "__main__":
    sys.exit(cli())
