"""What one `python -m genbench.run` process knows across its jobs.

Hydra calls `run.main` once per job and the sweep callbacks once per multirun,
all in this process; what they learn for the exit code (failed and skipped jobs,
a stop signal, the sweep's failures, tuning trials whose seeds diverged) lives
in the one `SESSION` object, which `run.cli` reads when Hydra returns. Also
the process's signal handling (`stop_on_signal`) and compilation cache.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Session", "SESSION", "stop_on_signal", "compilation_cache"]


@dataclass
class Session:
    """The state of one CLI process (see the module docstring)."""

    failed: list[str] = field(default_factory=list)  # jobs of this process that failed
    skipped: list[str] = field(default_factory=list)  # sweep jobs already complete
    multirun: bool = False  # a job of a multirun ran in this process
    stop: bool = False  # the first SIGINT/SIGTERM arrived (see stop_on_signal)
    # Jobs of the last multirun that did not succeed, as "job folder: status"
    # (set by the sweep summary callbacks from the job folders, so that jobs run
    # by launchers in other processes count too).
    sweep_failures: list[str] = field(default_factory=list)
    # Folders of tuning trials whose seeds diverged: search results (told to
    # Optuna as FAIL), not failed jobs.
    diverged_trials: set[str] = field(default_factory=set)

    def exit_code(self) -> int:
        """0 all good, 130 interrupted, 1 a job failed; says why on stderr."""
        if self.skipped:
            print(
                f"genbench: {len(self.skipped)} job(s) skipped: already complete "
                "with the same configuration and seeds",
                file=sys.stderr,
            )
        if any(f.startswith("interrupted") for f in self.failed):
            if self.multirun:
                print(
                    "genbench: sweep interrupted; re-run the same command with "
                    "hydra.sweep.dir=<this sweep's folder> to finish it (complete "
                    "jobs are skipped)",
                    file=sys.stderr,
                )
            return 130
        # A tuning trial whose seeds diverged is a search result, not a failure.
        own = [
            f for f in self.failed if f.partition(": ")[2] not in self.diverged_trials
        ]
        failed = list(self.sweep_failures) or own
        if failed and (self.multirun or self.sweep_failures):
            print(f"genbench: {len(failed)} job(s) failed:", file=sys.stderr)
            for failure in failed:
                print(f"  {failure}", file=sys.stderr)
            print(
                "  re-run the same command with hydra.sweep.dir=<this sweep's "
                "folder>: complete jobs are skipped, the others run again",
                file=sys.stderr,
            )
        return 1 if failed else 0


SESSION = Session()


@contextlib.contextmanager
def stop_on_signal(session: Session = SESSION):
    """Ctrl-C (SIGINT) or SIGTERM asks the run to stop at its next snapshot.

    The first signal only sets `session.stop`: training ends after the chunk it
    is in, the completed snapshots are saved as usual and a sweep starts no
    further job. A second signal raises KeyboardInterrupt at once (files are
    written atomically, so nothing is left half-written). A flag, not an
    exception, so that the stop never lands inside library code (JAX dispatch, a
    finaliser that would swallow it, a lock held by the background compile).
    """

    def handler(signum, frame):
        if session.stop:
            raise KeyboardInterrupt
        session.stop = True
        # os.write: the main thread may be inside a buffered write to stderr
        os.write(
            2,
            b"\ngenbench: stopping after the current snapshot and saving it; "
            b"interrupt again to stop at once\n",
        )

    # A signal ignored on entry stays ignored, as in any Unix program: a shell
    # starts background jobs of a script with SIGINT ignored.
    signals = [
        sig
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    ]
    try:
        previous = [signal.signal(sig, handler) for sig in signals]
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, prev in zip(signals, previous, strict=True):
            signal.signal(sig, prev)


def compilation_cache(path: str | None) -> None:
    """Persist compiled programs across runs (a sweep compiles each shape once);
    `None` leaves JAX's setting alone."""
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(Path(path).expanduser()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
