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
N_PROJECTIONS = 16  # directions of the sliced Wasserstein distance in 2D


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


def wasserstein1(x: Float[Array, " n"], y: Float[Array, " m"]) -> Array:
    """Exact 1D Wasserstein-1 distance between the finite values of `x` and `y`.

    For equal sizes and no NaN this is `mean |sort(x) - sort(y)|`. NaN entries of
    `x` (samples with no valid value) are left out: the k finite values are
    compared with the quantiles of `y` at the same ranks.
    """
    return wasserstein1_sorted(x, jnp.sort(y))


def wasserstein1_sorted(x: Float[Array, " n"], ys: Float[Array, " m"]) -> Array:
    """`wasserstein1(x, y)` with `ys = sort(y)` given (sort a fixed reference once)."""
    y = ys
    xs = jnp.sort(x)  # NaN sorts last
    k = jnp.sum(jnp.isfinite(x))
    ranks = jnp.arange(x.shape[0])
    idx = jnp.floor((ranks + 0.5) / k * y.shape[0]).astype(jnp.int32)
    diff = jnp.abs(xs - ys[jnp.clip(idx, 0, y.shape[0] - 1)])
    return jnp.sum(jnp.where(ranks < k, diff, 0.0)) / k


def projections(dim: int, n: int = N_PROJECTIONS) -> Array:
    """Fixed unit directions for the sliced distance (deterministic)."""
    if dim == 1:
        return jnp.ones((1, 1))
    if dim == 2:
        angles = jnp.pi * jnp.arange(n) / n
        return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    d = jr.normal(jr.key(0), (n, dim))
    return d / jnp.linalg.norm(d, axis=1, keepdims=True)


def sliced_wasserstein(x: Float[Array, "n dim"], y: Float[Array, "m dim"]) -> Array:
    """Mean Wasserstein-1 over fixed projections; equals W1 exactly in 1D."""
    return sliced_wasserstein_sorted(x, sorted_projections(y))


def sorted_projections(y: Float[Array, "m dim"]) -> Float[Array, "p m"]:
    """The reference sample projected on the fixed directions, each sorted."""
    return jnp.sort(y @ projections(y.shape[1]).T, axis=0).T


def sliced_wasserstein_sorted(
    x: Float[Array, "n dim"], ref: Float[Array, "p m"]
) -> Array:
    """`sliced_wasserstein(x, y)` with `ref = sorted_projections(y)`."""
    dirs = projections(x.shape[1])
    return jnp.mean(jax.vmap(lambda u, ys: wasserstein1_sorted(x @ u, ys))(dirs, ref))
