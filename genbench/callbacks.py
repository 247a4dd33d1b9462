"""Hydra callbacks registered in `genbench/conf/config.yaml`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["OutputDirCheck", "NeedsMultirun"]


def check_writable(key: str, path: str) -> None:
    """Refuse an output folder that cannot be created or written, before any work.
    The folders it creates to find out are removed again (if still empty): a run
    refused later (`NeedsMultirun`) leaves nothing behind."""
    folder = Path(path).absolute()
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".genbench-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        print(
            f"genbench: error: {key}={path!r} is not allowed: the output folder "
            f"cannot be written ({err.strerror or err}); choose a writable folder "
            f"with {key}=...",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    for made in created:  # deepest first
        try:
            made.rmdir()
        except OSError:  # another process has put something there: keep it
            break


class OutputDirCheck(Callback):
    """Check the run or sweep folder before Hydra creates it and the job starts."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable("hydra.sweep.dir", config.hydra.sweep.dir)


class NeedsMultirun(Callback):
    """Refuse a config that defines a sweep (an experiment setting
    `hydra.callbacks.needs_multirun`) when run without `-m`: Hydra would run one
    job of its defaults instead. Before the run folder exists: nothing written."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        task = " ".join(config.hydra.overrides.task)
        print(
            "genbench: error: this experiment is a sweep and needs -m: "
            f"python -m genbench.run -m {task}",
            file=sys.stderr,
        )
        raise SystemExit(1)
