"""Hydra entry point: `python -m genbench.run model=rbm target=1d_trimodal`.

Wiring only: config -> objects (`config.build_run`), `train.train`, then the
artifacts (`artifacts`), figures (`plots.plot_run`) and console summary
(`report.run_summary`) of one run in Hydra's output directory. What the process
learns across jobs (failures, a stop signal) is `session.SESSION`.
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

from .config import register_configs
from .session import SESSION, compilation_cache, stop_on_signal

register_configs()
USER_ERRORS = (ValueError, NotImplementedError)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from . import artifacts
    from .config import build_run, resolved
    from .identity import skip_complete

    started = time.time(), time.perf_counter()  # the job's start-up begins
    hc = HydraConfig.get()
    out, job = Path(hc.runtime.output_dir), " ".join(hc.overrides.task)
    multirun = hc.mode == RunMode.MULTIRUN
    SESSION.multirun |= multirun
    for noisy in ("jax._src.xla_bridge", "matplotlib", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    compilation_cache(cfg.get("jax_cache"))
    if SESSION.stop:  # Ctrl-C during an earlier job of this sweep: run nothing more
        print(f"genbench: not run (interrupted): {job}", file=sys.stderr)
        SESSION.failed.append(f"interrupted before it started: {job}")
        return None
    choices, config = _choices(), None
    try:
        config = resolved(cfg)
        if multirun and skip_complete(out, Path(hc.sweep.dir), config, choices):
            SESSION.skipped.append(str(out))
            return None
        spec = build_run(cfg)
        _check_memory(spec, cfg)
    except USER_ERRORS as err:
        # A configuration error: one readable line, no traceback, nothing written
        # (the full traceback with HYDRA_FULL_ERROR=1, as for Hydra's own errors).
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"genbench: error: {err}", file=sys.stderr)
        if not multirun:
            SESSION.failed.append(str(err))
            _discard(out)
            return None
        # In a sweep the job's folder records why it did not run.
        return _failed(out, job, "config_error", str(err), config, choices)
    if not multirun:
        return run_spec(spec, cfg, out, started)
    try:  # in a sweep, a job that raises is recorded and the others go on
        return run_spec(spec, cfg, out, started)
    except Exception as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        artifacts.atomic_write(out / "error.txt", traceback.format_exc())
        error = f"{type(err).__name__}: {err}"
        print(
            f"genbench: error: job {job!r} failed: {error} "
            f"(traceback in {out / 'error.txt'})",
            file=sys.stderr,
        )
        return _failed(out, job, "error", error, config, choices)


def _failed(out: Path, job: str, status: str, error: str, config, choices) -> None:
    """Record in a sweep job's folder why it did not run or failed."""
    from . import artifacts

    record = artifacts.job_record(status, error, config, choices)
    artifacts.write_json(out / "metrics.json", record)
    SESSION.failed.append(f"{job}: {error}")


def _discard(out: Path) -> None:
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


def _choices() -> dict[str, str | None]:
    """Hydra's choice of each config group (`model: vae_original`), Hydra's own
    groups left out: the report labels presets by them."""
    choices = HydraConfig.get().runtime.choices
    return {k: v for k, v in choices.items() if not k.startswith(("hydra/", "schema"))}


def _check_memory(spec, cfg: DictConfig) -> None:
    """Refuse, before compiling, a run whose estimated peak memory does not fit."""
    from .train import check_memory

    s = spec
    args = (s.family, s.target, s.encoding, s.settings, s.hidden)
    check_memory(*args, cfg.budget.params, cfg.budget.scope)


def run_spec(
    spec, cfg: DictConfig, out: Path, started: tuple[float, float] | None = None
) -> float | None:
    """Train, write every artifact under `out`, print the summary; returns mean KL.

    `started`: the job's start as (`time.time()`, `time.perf_counter()`), for the
    start-up part of metrics.json's `timing` (None: the start of this call)."""
    from . import artifacts, plots
    from .report import run_summary
    from .train import train

    t0 = time.perf_counter()
    started = started or (time.time(), t0)
    spent = {"artifacts_seconds": 0.0}  # writing history and parameters
    s, saved = spec.settings, []
    seeds = list(range(s.seed, s.seed + s.seeds))
    # A step's FLOPs (XLA's cost analysis, for the training-budget figures),
    # traced beside the compilation instead of after it.
    background = ThreadPoolExecutor(max_workers=1)
    flops = background.submit(
        spec.family.step_flops, spec.encoding.model_dim, spec.hidden, s.batch_size
    )
    background.shutdown(wait=False)

    def save_training(result) -> None:
        """History and parameters, written before the final evaluation (and
        after an interruption): a failure there loses no training."""
        t = time.perf_counter()
        artifacts.save_training(out, spec.family, result, seeds)
        saved.append(True)
        spent["artifacts_seconds"] += time.perf_counter() - t

    try:
        result = train(
            *(spec.family, spec.target, spec.encoding, s, spec.hidden),
            should_stop=lambda: SESSION.stop,
            on_trained=save_training,
        )
    except KeyboardInterrupt:  # a second signal while compiling: nothing trained
        result = None
    if result is None or not result.snapshot_steps:
        print(
            "genbench: interrupted before the first snapshot; nothing written",
            file=sys.stderr,
        )
        SESSION.failed.append("interrupted before the first snapshot")
        return None
    if not saved:
        save_training(result)
    t1 = time.perf_counter()
    if result.samples is not None:
        artifacts.save_samples(out / "samples.npz", result.samples, seeds)
    t2 = time.perf_counter()
    edges = plots.plot_run(out / "plots", spec, result, cfg.budget.params)
    t3 = time.perf_counter()
    spent["artifacts_seconds"] += t2 - t1
    timing = {
        "wall_seconds": t3 - t0,
        "setup_seconds": t0 - started[1],  # config, budget solve, memory check
        **spent,
        "plots_seconds": t3 - t2,
        "start_time": started[0],  # Unix time of the job's start
        "end_time": started[0] + t3 - started[1],
    }
    payload = artifacts.run_record(spec, cfg, result, edges, flops, _choices(), timing)
    artifacts.write_json(out / "metrics.json", payload)
    print(run_summary(payload, out))
    if payload["status"] == "failed":
        SESSION.failed.append(f"every seed diverged or ran away: {out}")
    if result.interrupted:
        SESSION.failed.append(f"interrupted at step {result.steps_done}: {out}")
    return payload["metrics"]["kl"]["mean"]


def cli() -> int:
    """Console entry: run Hydra, then exit non-zero if any job failed.

    Exit codes: 0 all good (some seeds may have diverged), 1 a job failed (bad
    configuration, every seed diverged or ran away), 130 interrupted (SIGINT/SIGTERM).
    """
    try:
        with stop_on_signal():
            main()
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
        print("genbench: interrupted", file=sys.stderr)
        return 130
    return SESSION.exit_code()


if __name__ == "__main__":
    sys.exit(cli())
