"""Histogram divergences and sample distances, computed on device.

Every metric is implemented once, here, and tested against an independent
reference in `tests/test_metrics.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float

__all__ = ["KL_EPS", "histogram", "kl_divergence", "wasserstein1", "sliced_wasserstein"]

KL_EPS = 1e-10  # the specification's epsilon in KL(P || Q) = sum P log(P / (Q + eps))
N_PROJECTIONS = 64  # directions of the sliced Wasserstein distance in 2D


def histogram(
    x: Float[Array, "n dim"], edges: Sequence[np.ndarray]
) -> Float[Array, "..."]:
    """Share of the `n` samples in every cell of the grid given by `edges`.

    Normalised by all `n` samples: samples outside the grid (or not finite) are
    mass lost, so the result sums to the share of samples inside the grid.
    Cells are half-open `[e_k, e_k+1)`, except the last, which is closed (as
    `numpy.histogram`).
    """
    n = x.shape[0]
    flat = jnp.zeros((n,), jnp.int32)
    inside = jnp.ones((n,), bool)
    for axis, e in enumerate(edges):
        e = jnp.asarray(e, x.dtype)
        xi = x[:, axis]
        idx = jnp.searchsorted(e, xi, side="right") - 1
        idx = jnp.where(xi == e[-1], e.shape[0] - 2, idx)
        inside &= (xi >= e[0]) & (xi <= e[-1])
        flat = flat * (e.shape[0] - 1) + jnp.clip(idx, 0, e.shape[0] - 2)
    shape = tuple(len(e) - 1 for e in edges)
    counts = jnp.zeros((int(np.prod(shape)),), x.dtype).at[flat].add(inside)
    return (counts / n).reshape(shape)


def kl_divergence(p: Array, q: Array, eps: float = KL_EPS) -> Array:
    """KL(P || Q) = sum_i P_i log(P_i / (Q_i + eps)) over cells with P_i > 0."""
    p, q = jnp.ravel(p), jnp.ravel(q)
    safe_p = jnp.where(p > 0, p, 1.0)
    return jnp.sum(jnp.where(p > 0, p * jnp.log(safe_p / (q + eps)), 0.0))


def wasserstein1(x: Float[Array, " n"], y: Float[Array, " n"]) -> Array:
    """Exact 1D Wasserstein-1 distance between two equal-size samples."""
    return jnp.mean(jnp.abs(jnp.sort(x) - jnp.sort(y)))


def projections(dim: int, n: int = N_PROJECTIONS) -> Array:
    """Fixed unit directions for the sliced distance (deterministic)."""
    if dim == 1:
        return jnp.ones((1, 1))
    if dim == 2:
        angles = jnp.pi * jnp.arange(n) / n
        return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    d = jr.normal(jr.key(0), (n, dim))
    return d / jnp.linalg.norm(d, axis=1, keepdims=True)


def sliced_wasserstein(x: Float[Array, "n dim"], y: Float[Array, "n dim"]) -> Array:
    """Mean Wasserstein-1 over fixed projections; equals W1 exactly in 1D."""
    dirs = projections(x.shape[1])
    return jnp.mean(jax.vmap(lambda u: wasserstein1(x @ u, y @ u))(dirs))
