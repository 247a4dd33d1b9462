"""What one `python -m genbench.run` process knows across its jobs.

Hydra calls `run.main` once per job and the sweep callbacks once per multirun,
all in this process; what they learn for the exit code (failed and skipped jobs,
a stop signal, the sweep's failures, tuning trials whose seeds diverged) lives
in the one `SESSION` object, which `run.cli` reads when Hydra returns. Also
the process's signal handling (`stop_on_signal`) and compilation cache.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Session",
    "SESSION",
    "stop_on_signal",
    "compilation_cache",
    "quiet_libraries",
]


@dataclass
class Session:
    """The state of one CLI process (see the module docstring)."""

    failed: list[str] = field(default_factory=list)  # jobs of this process that failed
    skipped: list[str] = field(default_factory=list)  # sweep jobs already complete
    multirun: bool = False  # a job of a multirun ran in this process
    sweep_dir: str | None = None  # that multirun's folder, for the resume hint
    stop: bool = False  # the first SIGINT/SIGTERM arrived (see stop_on_signal)
    signals: int = 0  # SIGINT/SIGTERM received so far
    # Jobs of the last multirun that did not succeed, as "job folder: status"
    # (set by the sweep summary callbacks from the job folders, so that jobs run
    # by launchers in other processes count too).
    sweep_failures: list[str] = field(default_factory=list)
    # Folders of tuning trials whose seeds diverged: search results (told to
    # Optuna as FAIL), not failed jobs.
    diverged_trials: set[str] = field(default_factory=set)

    def signal_received(self, signum: int, grace: float, done: threading.Event):
        """A SIGINT or SIGTERM (see `stop_on_signal`, whose thread calls this):
        the first sets `stop`; the second interrupts the main thread, and ends the
        process if it has not returned from `stop_on_signal` `grace` s later."""
        self.signals += 1
        if self.signals == 1:
            self.stop = True
            # os.write: the main thread may be inside a buffered write to stderr
            os.write(
                2,
                b"\ngenbench: stopping after the current snapshot and saving it; "
                b"interrupt again to stop at once\n",
            )
            return
        _thread.interrupt_main(signum)  # runs `handler` in the main thread
        if not done.wait(grace):  # the main thread did not unwind in time
            os.write(2, b"genbench: interrupted\n")
            os._exit(130)

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
                    f"{self._resume()} to finish it (complete jobs are skipped)",
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
                f"  re-run the same command with {self._resume()}: complete jobs "
                "are skipped, the others run again",
                file=sys.stderr,
            )
        return 1 if failed else 0

    def _resume(self) -> str:
        """The override that resumes this process's sweep (its real folder)."""
        return f"hydra.sweep.dir={self.sweep_dir or '<this sweep folder>'}"


SESSION = Session()


@contextlib.contextmanager
def stop_on_signal(session: Session = SESSION, grace: float = 1.0):
    """Ctrl-C (SIGINT) or SIGTERM asks the run to stop at its next snapshot.

    The first signal only sets `session.stop`: training ends after the chunk it
    is in, the completed snapshots are saved as usual and a sweep starts no
    further job. A flag, not an exception, so that the stop never lands inside
    library code (JAX dispatch, a finaliser that would swallow it, a lock held by
    the background compile). A second signal raises KeyboardInterrupt in the main
    thread (files are written atomically, so nothing is left half-written) and,
    if the process is still alive `grace` seconds later (the main thread blocked
    in a compile or a computation, where Python runs no handler, or the exception
    swallowed by a finaliser), exits it with status 130.

    The signals are counted by a thread that reads C's signal wakeup fd: it sees
    a signal at once, whatever the main thread is doing. `session.signals` and
    `session.stop` are the only signal state.
    """
    # A signal ignored on entry stays ignored, as in any Unix program: a shell
    # starts background jobs of a script with SIGINT ignored.
    signals = [
        sig
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    ]

    def handler(signum, frame):  # Python's handler, run by the main thread
        if session.signals >= 2:
            raise KeyboardInterrupt

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous = [signal.signal(sig, handler) for sig in signals]
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread: leave signals alone
        reader.close(), writer.close()
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                received = reader.recv(64)
            except OSError:  # closed on exit from the context
                return
            for signum in received:
                if signum in signals and not done.is_set():
                    session.signal_received(signum, grace, done)

    threading.Thread(target=watch, name="genbench-signals", daemon=True).start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous_fd)
        for sig, prev in zip(signals, previous, strict=True):
            signal.signal(sig, prev)
        with contextlib.suppress(OSError):
            reader.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv
        writer.close(), reader.close()


def compilation_cache(path: str | None) -> None:
    """Persist compiled programs across runs (a sweep compiles each shape once);
    `None` leaves JAX's setting alone."""
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(Path(path).expanduser()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def quiet_libraries() -> None:
    """Keep JAX's, Matplotlib's and absl's info lines out of a run's log."""
    for noisy in ("jax._src.xla_bridge", "matplotlib", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
