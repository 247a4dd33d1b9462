"""Hydra entry point: `python -m genbench.run model=rbm target=1d_trimodal`.

Wiring only: config -> objects (`config.build_run`), `train.train`, then the
artifacts (`artifacts`), figures (`plots.plot_run`) and console lines
(`report`) of one run in Hydra's output directory. What the process learns
across jobs (failures, a stop signal) is `session.SESSION`.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import overrides, report
from .config import register_configs
from .session import SESSION, compilation_cache, quiet_libraries, stop_on_signal

register_configs()
USER_ERRORS = (ValueError, NotImplementedError)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from . import artifacts
    from .config import build_run, resolved
    from .identity import group_choices, skip_complete
    from .train import check_memory

    started = time.time(), time.perf_counter()  # the job's start-up begins
    hc = HydraConfig.get()
    out, job = Path(hc.runtime.output_dir), " ".join(hc.overrides.task)
    multirun = hc.mode == RunMode.MULTIRUN
    SESSION.multirun |= multirun
    SESSION.sweep_dir = hc.sweep.dir if multirun else SESSION.sweep_dir
    quiet_libraries()
    compilation_cache(cfg.get("jax_cache"))
    if SESSION.stop:  # Ctrl-C during an earlier job of this sweep: run nothing more
        report.say(f"not run (interrupted): {job}")
        SESSION.failed.append(f"interrupted before it started: {job}")
        return None
    if cfg.train.get("devices") is None and hc.launcher.get("n_jobs", 1) != 1:
        cfg.train.devices = 1  # parallel local workers: one core each
    choices, config = group_choices(), None
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
        SESSION.failed.append(f"{job}: {err}" if multirun else str(err))
        if multirun:  # in a sweep the job's folder records why it did not run
            return artifacts.write_job_record(
                out, "config_error", str(err), config, choices
            )
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
        SESSION.failed.append(f"{job}: {error}")
        return artifacts.write_job_record(out, "error", error, config, choices)


def run_spec(
    spec, cfg: DictConfig, out: Path, started: tuple[float, float] | None = None
) -> float | None:
    """Train, write every artifact under `out`, print the summary; returns mean KL.

    `started`: the job's start as (`time.time()`, `time.perf_counter()`), for the
    start-up part of metrics.json's `timing` (None: the start of this call)."""
    from . import artifacts
    from .identity import group_choices
    from .train import train

    t0 = time.perf_counter()
    s, started = spec.settings, (*(started or (time.time(), t0)), t0)
    saver = artifacts.TrainingSaver(
        out, spec.family, list(range(s.seed, s.seed + s.seeds))
    )
    flops = artifacts.step_flops_in_background(spec)
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
        out, spec, cfg, result, saver, flops, group_choices(), started
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
        overrides.check_overrides(main)  # Hydra's composition errors, as one line
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
