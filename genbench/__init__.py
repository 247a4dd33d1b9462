"""genbench: apples-to-apples benchmark of classical generative models."""

import os


def _one_host_device_per_core() -> None:
    """Expose each CPU core as an XLA device, so that a run's seeds can be split
    across cores (`train.devices`): XLA runs most of these small models' work on
    one thread per device. Takes effect when JAX starts its CPU backend, so it is
    set on import, before any computation; an explicit setting in XLA_FLAGS wins.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # pragma: no cover (macOS, Windows)
        cores = os.cpu_count() or 1
    count = f"--xla_force_host_platform_device_count={max(1, cores)}"
    os.environ["XLA_FLAGS"] = f"{flags} {count}".strip()


_one_host_device_per_core()

from .errors import ConfigError  # noqa: E402 (after the XLA flags; imports no JAX)

__all__ = ["ConfigError"]
__version__ = "0.1.0"
__all__ = ["load_run", "TrainedRun"]


def __getattr__(name: str):
    # `genbench.load_run` without importing JAX on `import genbench` (the XLA
    # flags above must be set first, and the CLI imports what it needs itself).
    if name in __all__:
        from . import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'genbench' has no attribute {name!r}")
