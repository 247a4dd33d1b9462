"""Memory: how much a traced program needs at its peak, and how much there is.

The estimate walks a program's jaxpr (`jax.make_jaxpr`, no compilation and no
allocation) in order, keeping every value live from the equation that makes it
to its last use, and takes the largest total. Inputs stay live throughout (the
caller owns them). A loop body's own peak counts once, on top of what is live
around the loop. Without XLA's fusion of elementwise chains this overestimates
a fused program's buffers, which is the safe side for refusing a run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import jax
from jax.extend import core

__all__ = ["peak_bytes", "available_memory"]


def _nbytes(var) -> int:
    aval = getattr(var, "aval", None)
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    return math.prod(shape) * dtype.itemsize


def _inner(eqn) -> Iterator[core.Jaxpr]:
    """The jaxprs an equation runs (loop and branch bodies, nested jit calls)."""
    for value in eqn.params.values():
        for j in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(j, core.ClosedJaxpr):
                yield j.jaxpr
            elif isinstance(j, core.Jaxpr):
                yield j


def _peak(jaxpr: core.Jaxpr) -> int:
    inputs = [*jaxpr.invars, *jaxpr.constvars]
    last: dict = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if isinstance(v, core.Var):
                last[v] = i
    for v in jaxpr.outvars:
        if isinstance(v, core.Var):
            last[v] = len(jaxpr.eqns)
    pinned = set(inputs)
    live = sum(_nbytes(v) for v in inputs)
    peak = live
    for i, eqn in enumerate(jaxpr.eqns):
        # an inner program's inputs are values already live out here
        extra = max(
            (_peak(j) - sum(_nbytes(v) for v in j.invars) for j in _inner(eqn)),
            default=0,
        )
        made = sum(_nbytes(v) for v in eqn.outvars)
        peak = max(peak, live + max(extra, 0) + made)
        live += made
        for v in {v for v in eqn.invars if isinstance(v, core.Var)}:
            if last.get(v) == i and v not in pinned:
                live -= _nbytes(v)
        for v in eqn.outvars:
            if v not in last:  # never used: freed at once
                live -= _nbytes(v)
    return peak


def peak_bytes(jaxpr: core.ClosedJaxpr | core.Jaxpr) -> int:
    """Estimated peak bytes of running `jaxpr` (from `jax.make_jaxpr`), inputs
    and outputs included; see the module docstring for the method."""
    if isinstance(jaxpr, core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    return _peak(jaxpr)


def available_memory() -> tuple[int, str]:
    """`(bytes, where)`: memory a run can still use on the default device.

    CPU: the kernel's `MemAvailable` (/proc/meminfo; the free pages elsewhere).
    An accelerator: its memory limit less what is in use (`memory_stats`).
    """
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
            return int(free), f"{device.platform} memory"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available memory"
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages), "free memory"
