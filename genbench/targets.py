"""Target distributions: what the models learn.

Every target samples on device (`sample`), knows its analytic moments (used to
standardise data for the models), its histogram range, and the exact probability
of every histogram bin (from a CDF or a pmf), so that the KL divergence compares
the model against the true distribution rather than against another sample.

Add a target by writing a subclass and a YAML file under `genbench/conf/target/` whose
`_target_` names it; nothing else needs to change.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray
from scipy import special, stats

__all__ = [
    "AbstractTarget",
    "Mixture1D",
    "Beta1D",
    "Poisson1D",
    "AbstractMixture2D",
    "Mixture2D",
    "Ring2D",
    "Grid2D",
    "Checkerboard2D",
    "AbstractCurve2D",
    "TwoMoons2D",
    "TwoSpirals2D",
    "Empirical",
    "AbstractBinaryTarget",
    "BarsAndStripes",
    "Cardinality",
    "TargetError",
]


class TargetError(ValueError):
    """A target's parameters are inconsistent."""


def _check_weights(name: str, weights: np.ndarray, n: int) -> np.ndarray:
    if weights.shape != (n,):
        raise TargetError(
            f"target.weights={weights.tolist()} for target {name!r}: need one weight "
            f"per component ({n})"
        )
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, atol=1e-6):
        raise TargetError(
            f"target.weights={weights.tolist()} for target {name!r}: weights must be "
            f"non-negative and sum to 1 (they sum to {weights.sum():g})"
        )
    return weights


def _check_positive(name: str, key: str, value: float) -> float:
    if not value > 0:
        raise TargetError(f"target.{key}={value} for target {name!r}: must be > 0")
    return float(value)


def _check_count(name: str, key: str, value: int, low: int) -> int:
    if int(value) != value or value < low:
        raise TargetError(
            f"target.{key}={value} for target {name!r}: must be an integer >= {low}"
        )
    return int(value)


class AbstractTarget(abc.ABC):
    """A distribution in `dim` dimensions with an exact histogram.

    Subclasses set `name`, `dim` and `bounds` (one `(low, high)` pair per axis:
    the histogram range used for scoring and plots).
    """

    name: str
    dim: int
    bounds: tuple[tuple[float, float], ...]
    default_hist_bins: int = 50

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, n: int) -> Float[Array, "n dim"]:
        """`n` independent samples, on device."""

    @abc.abstractmethod
    def mean(self) -> np.ndarray:
        """Analytic mean, shape `(dim,)`."""

    @abc.abstractmethod
    def std(self) -> np.ndarray:
        """Analytic standard deviation per axis, shape `(dim,)`."""

    @abc.abstractmethod
    def bin_probs(self, edges: Sequence[np.ndarray]) -> np.ndarray:
        """Exact probability of every histogram cell; shape `(n_1, ..., n_dim)`.

        Edges may be -inf and +inf (the scoring grid's underflow and overflow
        cells, `metrics.scoring_edges`); mass outside the edges is not in any
        cell, so the result sums to at most 1, and to 1 over open edges.
        """

    def hist_edges(self, n_bins: int | None = None) -> list[np.ndarray]:
        """Histogram edges per axis: `n_bins` equal cells over `bounds`."""
        n = n_bins or self.default_hist_bins
        return [np.linspace(lo, hi, n + 1) for lo, hi in self.bounds]

    def bin_edges(self, n_bins: int) -> list[np.ndarray]:
        """Edges per axis of the one-hot grid of binned mode (`bins.n = n_bins`)."""
        return [np.linspace(lo, hi, n_bins + 1) for lo, hi in self.bounds]

    def binning_note(self, n_bins: int) -> str | None:
        """A warning when `n_bins` cells per axis are too few to show this target.

        Binned mode cuts each axis separately, so modes are told apart by their
        distinct positions along an axis (5 on a 5 x 5 grid, not 25).
        """
        modes = self.modes
        if modes is None:
            return None
        # rounded: cos(pi/2) and 0 are one position
        k = max(len(np.unique(np.round(modes[:, a], 9))) for a in range(self.dim))
        if n_bins < k:
            return (
                f"bins.n={n_bins} is fewer cells per axis than the {k} distinct "
                f"mode positions along an axis of target {self.name!r}: the grid "
                f"cannot separate them; use bins.n >= {2 * k} to resolve them"
            )
        return None

    def reference_sample(self, key: PRNGKeyArray, n: int) -> Float[Array, "n dim"]:
        """`n` samples of P for the sample-based metrics (W1, MMD, `kl_compat`).

        P's samples are `sample`'s, except for a target learnt from data, whose
        models train on one part of the data and are scored against the other.
        """
        return self.sample(key, n)

    def density(self, grid: np.ndarray) -> np.ndarray:
        """Density (or pmf for discrete targets) at 1D points, for plots.

        2D targets have none: `bin_probs` on a fine grid divided by the cell
        areas draws any of them exactly (each cell's mean density)."""
        raise NotImplementedError(f"{type(self).__name__} has no 1D density")

    @property
    def is_discrete(self) -> bool:
        return False

    def evaluator(self, encoding=None, hist_bins: int | None = None):
        """The object that scores samples of this target: `metrics.Evaluator`, the
        cells of a histogram grid (bit-vector targets score patterns instead)."""
        from .metrics import Evaluator

        return Evaluator(self, encoding, hist_bins)

    def data_encoding(self, n_bins: int, decode: str):
        """An encoding of this target's own (`encoding.make_encoding` asks first);
        None: standardisation or one-hot bins, as `bins.n` says."""
        return None

    @property
    def modes(self) -> np.ndarray | None:
        """Centres of the modes of a mixture, shape `(n_modes, dim)`; else None.

        Modes are the components of positive weight (a zero-weight component
        has no mass to cover)."""
        return None

    @property
    def mode_covs(self) -> np.ndarray | None:
        """Covariance of each mode, `(n_modes, dim, dim)`; None if not a mixture."""
        return None

    @property
    def mode_weights(self) -> np.ndarray | None:
        """Weight of each mode, `(n_modes,)`, all > 0; None if not a mixture."""
        return None


def _check_bounds(name: str, bounds, dim: int) -> tuple[tuple[float, float], ...]:
    b = np.asarray(bounds, dtype=float).reshape(-1, 2)
    if b.shape != (dim, 2) or np.any(b[:, 1] <= b[:, 0]):
        raise TargetError(
            f"target.bounds={np.asarray(bounds).tolist()} for target {name!r}: need "
            f"{dim} pair(s) [low, high] with low < high"
        )
    return tuple((float(lo), float(hi)) for lo, hi in b)


class Mixture1D(AbstractTarget):
    """Mixture of 1D normals."""

    dim = 1

    def __init__(
        self,
        name: str,
        means: Sequence[float],
        stds: Sequence[float],
        weights: Sequence[float] | None = None,
        bounds: Sequence[float] = (-3.5, 3.5),
    ):
        self.name = name
        self.means_ = np.asarray(means, dtype=float)
        self.stds_ = np.asarray(stds, dtype=float)
        k = len(self.means_)
        if k == 0 or self.stds_.shape != (k,):
            raise TargetError(
                f"target.means={list(means)} and target.stds={list(stds)} for target "
                f"{name!r}: need one std per mean ({k} means, {self.stds_.size} stds)"
            )
        if np.any(self.stds_ <= 0):
            raise TargetError(
                f"target.stds={list(stds)} for target {name!r}: every std must be > 0"
            )
        w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
        self.weights_ = _check_weights(name, w, k)
        self.bounds = _check_bounds(name, bounds, 1)

    def sample(self, key, n):
        kc, kn = jr.split(key)
        comp = jr.categorical(kc, jnp.log(jnp.asarray(self.weights_)), shape=(n,))
        mu = jnp.asarray(self.means_, jnp.float32)[comp]
        sd = jnp.asarray(self.stds_, jnp.float32)[comp]
        return (mu + sd * jr.normal(kn, (n,)))[:, None]

    def mean(self):
        return np.array([np.sum(self.weights_ * self.means_)])

    def std(self):
        m = self.mean()[0]
        second = np.sum(self.weights_ * (self.stds_**2 + self.means_**2))
        return np.array([np.sqrt(second - m**2)])

    def bin_probs(self, edges):
        (e,) = edges
        cdf = special.ndtr((e[:, None] - self.means_) / self.stds_) @ self.weights_
        return np.diff(cdf)

    def density(self, grid):
        pdf = stats.norm.pdf(grid[:, None], self.means_, self.stds_)
        return pdf @ self.weights_

    @property
    def modes(self):
        return self.means_[self.weights_ > 0, None]

    @property
    def mode_covs(self):
        return (self.stds_**2)[self.weights_ > 0, None, None]

    @property
    def mode_weights(self):
        return self.weights_[self.weights_ > 0]


class Beta1D(AbstractTarget):
    """Beta(a, b) mapped affinely from [0, 1] to [low, high] of `support`."""

    dim = 1

    def __init__(
        self,
        name: str,
        a: float,
        b: float,
        support: Sequence[float] = (-2.5, 2.5),
        bounds: Sequence[float] = (-2.5, 2.5),
    ):
        self.name = name
        if a <= 0 or b <= 0:
            raise TargetError(
                f"target.a={a}, target.b={b} for target {name!r}: both must be > 0"
            )
        self.a, self.b = float(a), float(b)
        ((self.lo, self.hi),) = _check_bounds(name, support, 1)
        self.bounds = _check_bounds(name, bounds, 1)

    @property
    def _scale(self) -> float:
        return self.hi - self.lo

    def sample(self, key, n):
        return (self.lo + self._scale * jr.beta(key, self.a, self.b, (n,)))[:, None]

    def mean(self):
        return np.array([self.lo + self._scale * self.a / (self.a + self.b)])

    def std(self):
        a, b = self.a, self.b
        return np.array([self._scale * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))])

    def bin_probs(self, edges):
        (e,) = edges
        u = np.clip((e - self.lo) / self._scale, 0.0, 1.0)
        return np.diff(special.betainc(self.a, self.b, u))

    def density(self, grid):
        return stats.beta.pdf(grid, self.a, self.b, loc=self.lo, scale=self._scale)


class Poisson1D(AbstractTarget):
    """Poisson(lam) shifted by `shift` (the original uses shift = -lam).

    Histogram cells are unit cells centred on the integers of the support.
    """

    dim = 1

    def __init__(
        self,
        name: str,
        lam: float,
        shift: float | None = None,
        bounds: Sequence[float] | None = None,
    ):
        self.name = name
        if lam <= 0:
            raise TargetError(f"target.lam={lam} for target {name!r}: must be > 0")
        self.lam = float(lam)
        self.shift = -self.lam if shift is None else float(shift)
        if bounds is None:
            hi = int(stats.poisson.ppf(1 - 1e-4, self.lam))
            bounds = (self.shift - 0.5, self.shift + hi + 0.5)
        self.bounds = _check_bounds(name, bounds, 1)

    @property
    def is_discrete(self) -> bool:
        return True

    def hist_edges(self, n_bins=None):
        # One cell per integer of the support: a finer grid would score the gaps.
        lo, hi = self.bounds[0]
        first = np.ceil(lo - self.shift + 0.5)
        last = np.floor(hi - self.shift - 0.5)
        return [np.arange(first, last + 2) - 0.5 + self.shift]

    def bin_edges(self, n_bins):
        """Cells aligned to the integers: one integer each when `n_bins` covers the
        support's integers, else `ceil(K / n_bins)` consecutive integers each."""
        (unit,) = self.hist_edges()
        k = len(unit) - 1
        width = 1 if n_bins >= k else -(-k // n_bins)
        return [unit[0] + width * np.arange(n_bins + 1)]

    def binning_note(self, n_bins):
        (unit,) = self.hist_edges()
        k = len(unit) - 1
        if n_bins >= k:
            return None
        width = -(-k // n_bins)
        return (
            f"bins.n={n_bins} is fewer cells than the {k} integers of target "
            f"{self.name!r}'s support: each cell holds {width} integers; use "
            f"bins.n >= {k} for one integer per cell"
        )

    def sample(self, key, n):
        k = jr.poisson(key, self.lam, (n,)).astype(jnp.float32)
        return (k + self.shift)[:, None]

    def mean(self):
        return np.array([self.lam + self.shift])

    def std(self):
        return np.array([np.sqrt(self.lam)])

    def bin_probs(self, edges):
        (e,) = edges
        return np.diff(stats.poisson.cdf(np.floor(e - self.shift), self.lam))

    def density(self, grid):
        k = np.round(grid - self.shift)
        on = np.isclose(grid - self.shift, k)
        return np.where(on, stats.poisson.pmf(k, self.lam), 0.0)


class AbstractMixture2D(AbstractTarget):
    """Mixture of 2D normals: sampling, moments and exact cell probabilities.

    A concrete mixture's `__init__` computes its components and hands them to
    `_set_components`, which checks them: `means_` `(k, 2)`, `covs_` `(k, 2, 2)`,
    `weights_` `(k,)`.
    """

    dim = 2
    default_hist_bins = 30
    _n_quad = 24  # Gauss-Legendre nodes per x-cell for correlated components

    def _set_components(self, name, means, covs, weights, bounds) -> None:
        self.name = name
        self.means_ = np.asarray(means, dtype=float)
        k = self.means_.shape[0]
        if self.means_.shape != (k, 2):
            raise TargetError(
                f"target.means={np.asarray(means).tolist()} for target {name!r}: need "
                "a list of [x, y] pairs"
            )
        c = np.asarray(covs, dtype=float)
        if c.shape == (k, 2):  # per-axis variances given: diagonal covariances
            c = np.stack([np.diag(v) for v in c])
        if c.shape != (k, 2, 2):
            raise TargetError(
                f"target.means and target.covs for target {name!r}: need one 2x2 "
                f"covariance per mean ({k} means), got covs of shape {list(c.shape)}"
            )
        for i, ci in enumerate(c):
            if not np.allclose(ci, ci.T) or np.any(np.linalg.eigvalsh(ci) <= 0):
                raise TargetError(
                    f"target.covs[{i}]={ci.tolist()} for target {name!r}: a covariance "
                    "must be symmetric positive definite"
                )
        self.covs_ = c
        self.chols_ = np.linalg.cholesky(c)
        w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
        self.weights_ = _check_weights(name, w, k)
        self.bounds = _check_bounds(name, bounds, 2)

    def sample(self, key, n):
        kc, kn = jr.split(key)
        # inverse CDF of the weights: one uniform per sample (jr.categorical
        # draws one Gumbel per sample and component: 25 for the 5 x 5 grid)
        cum = jnp.asarray(np.cumsum(self.weights_)[:-1], jnp.float32)
        comp = jnp.searchsorted(cum, jr.uniform(kc, (n,)), side="right")
        mu = jnp.asarray(self.means_, jnp.float32)[comp]
        chol = jnp.asarray(self.chols_, jnp.float32)[comp]
        eps = jr.normal(kn, (n, 2))
        return mu + jnp.einsum("nij,nj->ni", chol, eps)

    def mean(self):
        return self.weights_ @ self.means_

    def std(self):
        m = self.mean()
        second = np.einsum(
            "k,kij->ij",
            self.weights_,
            self.covs_ + np.einsum("ki,kj->kij", self.means_, self.means_),
        )
        return np.sqrt(np.diag(second - np.outer(m, m)))

    def bin_probs(self, edges):
        ex, ey = (np.asarray(e, float) for e in edges)
        nodes, wts = np.polynomial.legendre.leggauss(self._n_quad)
        total = np.zeros((len(ex) - 1, len(ey) - 1))
        for w, mu, cov in zip(self.weights_, self.means_, self.covs_, strict=True):
            sx = np.sqrt(cov[0, 0])
            if cov[0, 1] == 0.0:  # independent axes: a product of normal CDFs
                px = np.diff(special.ndtr((ex - mu[0]) / sx))
                py = np.diff(special.ndtr((ey - mu[1]) / np.sqrt(cov[1, 1])))
                total += w * np.outer(px, py)
                continue
            # Quadrature needs finite cells: clip to +-12 sd (mass beyond < 1e-32).
            cx = np.clip(ex, mu[0] - 12 * sx, mu[0] + 12 * sx)
            half = np.diff(cx)[:, None] / 2
            xs = (cx[:-1, None] + cx[1:, None]) / 2 + half * nodes  # (nx, q)
            px = stats.norm.pdf(xs, mu[0], sx)  # (nx, q)
            # y | x is normal: integrate P(y in cell | x) p(x) over each x-cell.
            my = mu[1] + cov[0, 1] / cov[0, 0] * (xs - mu[0])
            sy = np.sqrt(cov[1, 1] - cov[0, 1] ** 2 / cov[0, 0])
            cdf = special.ndtr((ey[None, None, :] - my[..., None]) / sy)
            py = np.diff(cdf, axis=-1)  # (nx, q, ny)
            total += w * np.einsum("xq,xqy,q->xy", px, py, wts) * half
        return total

    @property
    def modes(self):
        return self.means_[self.weights_ > 0]

    @property
    def mode_covs(self):
        return self.covs_[self.weights_ > 0]

    @property
    def mode_weights(self):
        return self.weights_[self.weights_ > 0]


class Mixture2D(AbstractMixture2D):
    """Mixture of 2D normals with full covariances, given component by component."""

    def __init__(
        self,
        name: str,
        means: Sequence[Sequence[float]],
        covs: Sequence[Sequence[Sequence[float]]],
        weights: Sequence[float] | None = None,
        bounds: Sequence[Sequence[float]] = ((-3.5, 3.5), (-3.5, 3.5)),
    ):
        self._set_components(name, means, covs, weights, bounds)


class Ring2D(AbstractMixture2D):
    """`n_modes` equal isotropic normals (sd `std`) on a circle of radius `radius`.

    Mode k sits at angle 2 pi k / n_modes from the x axis: the "2D ring" of the
    mode-collapse literature (Metz et al. 2017, Srivastava et al. 2017, Lin et al.
    2018). Default range: +-1.55 radius in 31 cells of radius / 10 per axis,
    so that the modes on the axes lie at cell centres (see `genbench/conf/target`).
    """

    default_hist_bins = 31

    def __init__(
        self,
        name: str,
        n_modes: int = 8,
        radius: float = 1.0,
        std: float = 0.01,
        bounds: Sequence[Sequence[float]] | None = None,
    ):
        n_modes = _check_count(name, "n_modes", n_modes, 2)
        radius = _check_positive(name, "radius", radius)
        std = _check_positive(name, "std", std)
        angle = 2 * np.pi * np.arange(n_modes) / n_modes
        means = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        covs = np.full((n_modes, 2), std**2)
        if bounds is None:
            bounds = ((-1.55 * radius, 1.55 * radius),) * 2
        self._set_components(name, means, covs, None, bounds)


class Grid2D(AbstractMixture2D):
    """`n_per_side`^2 equal isotropic normals (sd `std`) on a square grid with
    `spacing` between neighbours, centred on the origin: the "2D grid" of the
    mode-collapse literature (Srivastava et al. 2017, Lin et al. 2018).

    Default range: 1.1 spacings beyond the outer modes, in cells of spacing / 5
    (31 per axis for 5 x 5), so that every mode lies at a cell centre.
    """

    def __init__(
        self,
        name: str,
        n_per_side: int = 5,
        spacing: float = 2.0,
        std: float = 0.05,
        bounds: Sequence[Sequence[float]] | None = None,
    ):
        n = _check_count(name, "n_per_side", n_per_side, 2)
        spacing = _check_positive(name, "spacing", spacing)
        std = _check_positive(name, "std", std)
        axis = (np.arange(n) - (n - 1) / 2) * spacing
        gx, gy = np.meshgrid(axis, axis, indexing="ij")
        means = np.stack([gx.ravel(), gy.ravel()], axis=1)
        covs = np.full((n * n, 2), std**2)
        if bounds is None:
            half = ((n - 1) / 2 + 1.1) * spacing
            bounds = ((-half, half),) * 2
        self.default_hist_bins = 5 * n + 6  # cells of spacing / 5 over the default
        self._set_components(name, means, covs, None, bounds)


class Checkerboard2D(AbstractTarget):
    """Uniform on the dark squares of an `n_per_side` x `n_per_side` checkerboard
    of squares of side `square`, centred on the origin; the square in the
    lower-left corner is dark. The defaults (4 x 4 squares of side 2) are the
    "checkerboard" of the normalising-flow toy data (FFJORD, Grathwohl et al.
    2019; neural spline flows, Durkan et al. 2019).

    Exact cell probabilities: the area of a cell's intersection with the dark
    squares over their total area.
    """

    dim = 2
    default_hist_bins = 30

    def __init__(
        self,
        name: str,
        n_per_side: int = 4,
        square: float = 2.0,
        bounds: Sequence[Sequence[float]] | None = None,
    ):
        self.name = name
        n = _check_count(name, "n_per_side", n_per_side, 2)
        self.square = _check_positive(name, "square", square)
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        dark = (i + j) % 2 == 0
        half = n * self.square / 2
        # lower-left corner of every dark square, (k, 2)
        self.corners_ = np.stack([i[dark], j[dark]], axis=1) * self.square - half
        if bounds is None:  # the board and half a square around it
            bounds = ((-half - self.square / 2, half + self.square / 2),) * 2
        self.bounds = _check_bounds(name, bounds, 2)

    def sample(self, key, n):
        kc, ku = jr.split(key)
        k = jr.randint(kc, (n,), 0, self.corners_.shape[0])
        corner = jnp.asarray(self.corners_, jnp.float32)[k]
        return corner + self.square * jr.uniform(ku, (n, 2))

    def mean(self):
        return np.mean(self.corners_, axis=0) + self.square / 2

    def std(self):
        centres = self.corners_ + self.square / 2
        var = np.mean(centres**2, axis=0) - self.mean() ** 2 + self.square**2 / 12
        return np.sqrt(var)

    def bin_probs(self, edges):
        def overlaps(e, lo):  # length of [lo, lo + square] in each cell, (k, cells)
            e = np.asarray(e, float)
            hi = lo[:, None] + self.square
            return np.clip(
                np.minimum(e[None, 1:], hi) - np.maximum(e[None, :-1], lo[:, None]),
                0.0,
                None,
            )

        ox = overlaps(edges[0], self.corners_[:, 0])
        oy = overlaps(edges[1], self.corners_[:, 1])
        return ox.T @ oy / (self.corners_.shape[0] * self.square**2)


def _integrated_ndtr(z: np.ndarray) -> np.ndarray:
    """The integral of the standard normal CDF from -inf to z: z Phi(z) + phi(z)."""
    return z * special.ndtr(z) + np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)


def _blurred_cell_probs(
    edges: np.ndarray, centres: np.ndarray, lo: float, hi: float, sigma: float
) -> np.ndarray:
    """P(e_i <= c + u + eps < e_i+1) for each centre c and cell i, shape
    `(len(centres), len(edges) - 1)`: u uniform on [lo, hi] (none when lo == hi),
    eps ~ N(0, sigma^2).

    With u, the CDF is E_u Phi((e - c - u) / sigma)
    = sigma / (hi - lo) * [I((e - c - lo) / sigma) - I((e - c - hi) / sigma)],
    I the integrated normal CDF.
    """
    z = np.asarray(edges, float)[None, :] - centres[:, None]
    if hi == lo:
        cdf = special.ndtr(z / sigma)
    else:
        finite = np.where(np.isfinite(z), z, 0.0)
        cdf = (
            sigma
            / (hi - lo)
            * (
                _integrated_ndtr((finite - lo) / sigma)
                - _integrated_ndtr((finite - hi) / sigma)
            )
        )
        # open edges (the scoring grid's outer cells): the CDF is 0 or 1 there
        cdf = np.where(np.isposinf(z), 1.0, np.where(np.isneginf(z), 0.0, cdf))
    # rounding in the far tails can leave -1e-17 where the mass is 0
    return np.maximum(np.diff(cdf, axis=1), 0.0)


class AbstractCurve2D(AbstractTarget):
    """Points on curves, blurred: `x = scale (c_a(t) + u) + shift + eps`.

    The arm `a` is one of `n_arms`, equally likely; `t` has density proportional
    to `t ** t_power` on `t_range`; `u` is uniform on the arm's square
    `[lo, hi]^2` (`_jitter(a)`; none when lo == hi); `eps ~ N(0, noise^2 I)`.

    Given `t`, the two axes are independent, so a cell's probability is
    `sum_a 1/n_arms integral f(t) P_x(t) P_y(t) dt`, with `P_x`, `P_y` normal
    CDF differences over the cell's sides (convolved with the uniform jitter in
    closed form). The integral is computed by composite Gauss-Legendre quadrature
    over `t`: panels short enough that the curve moves at most half a noise sd
    in each, `_n_quad` nodes per panel; doubling the nodes changes no cell by
    1e-10 (tested). Moments come from the same nodes.

    A concrete curve sets `n_arms`, `t_range`, `t_power`, `scale`, `shift`,
    `noise` and `bounds` and defines `_point(xp, arm, t)` (numpy or jax.numpy)
    and `_jitter(arm)`.
    """

    dim = 2
    default_hist_bins = 30
    n_arms: int
    t_range: tuple[float, float]
    t_power: int
    scale: float
    shift: np.ndarray
    noise: float
    _n_quad = 8  # Gauss-Legendre nodes per panel
    _panel_noise = 0.5  # arc length of a panel, in noise sds

    @abc.abstractmethod
    def _point(self, xp, arm, t) -> tuple:
        """The curve point `(x, y)` of arm(s) `arm` at `t`, before `scale`."""

    @abc.abstractmethod
    def _jitter(self, arm: int) -> tuple[float, float]:
        """Arm `arm`'s uniform jitter `(lo, hi)` per axis, before `scale`."""

    def _t_from_uniform(self, xp, u):
        """Inverse CDF of the density proportional to t ** t_power."""
        t0, t1 = self.t_range
        p = self.t_power + 1
        return (t0**p + u * (t1**p - t0**p)) ** (1.0 / p)

    def _t_density(self, t: np.ndarray) -> np.ndarray:
        t0, t1 = self.t_range
        p = self.t_power + 1
        return p * t ** (p - 1) / (t1**p - t0**p)

    def _nodes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per arm: quadrature nodes in data space `(m, 2)` (curve points, scaled
        and shifted, before jitter and noise) and their weights `(m,)` (summing
        to 1 / n_arms)."""
        t0, t1 = self.t_range
        fine = np.linspace(t0, t1, 4097)
        speed = 0.0
        for a in range(self.n_arms):
            pts = np.stack(self._point(np, a, fine), axis=1) * self.scale
            seg = np.linalg.norm(np.diff(pts, axis=0), axis=1) / np.diff(fine)
            speed = max(speed, float(seg.max()))
        step = self._panel_noise * self.noise / max(speed, 1e-12)
        n_panels = max(4, int(np.ceil((t1 - t0) / step)))
        x, w = np.polynomial.legendre.leggauss(self._n_quad)
        left = np.linspace(t0, t1, n_panels + 1)
        half = np.diff(left)[:, None] / 2
        t = ((left[:-1, None] + left[1:, None]) / 2 + half * x).ravel()
        wt = (half * w).ravel() * self._t_density(t) / self.n_arms
        out = []
        for a in range(self.n_arms):
            pts = np.stack(self._point(np, a, t), axis=1) * self.scale + self.shift
            out.append((pts, wt))
        return out

    def _check_curve(self, name: str, noise: float, scale: float, shift, bounds):
        self.name = name
        self.noise = _check_positive(name, "noise", noise)
        self.scale = _check_positive(name, "scale", scale)
        self.shift = np.asarray(shift, float)
        if self.shift.shape != (2,):
            raise TargetError(
                f"target.shift={np.asarray(shift).tolist()} for target {name!r}: "
                "need one [x, y] pair"
            )
        if bounds is None:  # the curves' range and 5 noise sds around it
            lo = np.full(2, np.inf)
            hi = np.full(2, -np.inf)
            for a, (pts, _) in enumerate(self._nodes()):
                j_lo, j_hi = (self.scale * v for v in self._jitter(a))
                lo = np.minimum(lo, pts.min(0) + j_lo)
                hi = np.maximum(hi, pts.max(0) + j_hi)
            lo = np.floor((lo - 5 * self.noise) * 10) / 10
            hi = np.ceil((hi + 5 * self.noise) * 10) / 10
            bounds = tuple(zip(lo.tolist(), hi.tolist(), strict=True))
        self.bounds = _check_bounds(name, bounds, 2)

    def sample(self, key, n):
        ka, kt, kj, kn = jr.split(key, 4)
        arm = jr.randint(ka, (n,), 0, self.n_arms)
        t = self._t_from_uniform(jnp, jr.uniform(kt, (n,)))
        x, y = self._point(jnp, arm, t)
        jit = np.array([self._jitter(a) for a in range(self.n_arms)], np.float32)
        lo = jnp.asarray(jit[:, 0])[arm][:, None]
        hi = jnp.asarray(jit[:, 1])[arm][:, None]
        u = lo + (hi - lo) * jr.uniform(kj, (n, 2))
        pts = jnp.stack([x, y], axis=1) + u
        eps = self.noise * jr.normal(kn, (n, 2))
        return (self.scale * pts + jnp.asarray(self.shift, jnp.float32) + eps).astype(
            jnp.float32
        )

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        first = np.zeros(2)
        second = np.zeros(2)
        for a, (pts, w) in enumerate(self._nodes()):
            lo, hi = (self.scale * v for v in self._jitter(a))
            m = pts + (lo + hi) / 2  # mean given t
            first += w @ m
            second += w @ (m**2) + w.sum() * (hi - lo) ** 2 / 12
        second += self.noise**2
        return first, second

    def mean(self):
        return self._moments()[0]

    def std(self):
        first, second = self._moments()
        return np.sqrt(second - first**2)

    def bin_probs(self, edges):
        ex, ey = (np.asarray(e, float) for e in edges)
        total = np.zeros((len(ex) - 1, len(ey) - 1))
        for a, (pts, w) in enumerate(self._nodes()):
            lo, hi = (self.scale * v for v in self._jitter(a))
            px = _blurred_cell_probs(ex, pts[:, 0], lo, hi, self.noise)
            py = _blurred_cell_probs(ey, pts[:, 1], lo, hi, self.noise)
            total += (px * w[:, None]).T @ py
        return total


class TwoMoons2D(AbstractCurve2D):
    """Two interleaving half circles with Gaussian noise: scikit-learn's
    `make_moons` (outer `(cos t, sin t)`, inner `(1 - cos t, 1/2 - sin t)`,
    t in [0, pi]), then `scale` and `shift`; `noise` is the sd in data units.

    make_moons spaces t evenly; here t is uniform, the same distribution in the
    limit of many samples.
    """

    n_arms = 2
    t_range = (0.0, float(np.pi))
    t_power = 0

    def __init__(
        self,
        name: str,
        noise: float = 0.1,
        scale: float = 1.0,
        shift: Sequence[float] = (0.0, 0.0),
        bounds: Sequence[Sequence[float]] | None = None,
    ):
        self._check_curve(name, noise, scale, shift, bounds)

    def _point(self, xp, arm, t):
        outer = arm == 0
        x = xp.where(outer, xp.cos(t), 1.0 - xp.cos(t))
        y = xp.where(outer, xp.sin(t), 0.5 - xp.sin(t))
        return x, y

    def _jitter(self, arm):
        return 0.0, 0.0


class TwoSpirals2D(AbstractCurve2D):
    """Two interleaved spiral arms, the "2spirals" toy data of FFJORD (Grathwohl
    et al. 2019) and neural spline flows (Durkan et al. 2019).

    Arm 1: `(-t cos t, t sin t) + u`, u uniform on [0, jitter)^2; arm 2 its
    point reflection (`-(...)`, so u on (-jitter, 0]^2); t = 2 pi turns sqrt(v),
    v uniform (density proportional to t on [0, 2 pi turns]); then times `scale`
    plus N(0, noise^2) per axis.
    """

    n_arms = 2
    t_power = 1

    def __init__(
        self,
        name: str,
        turns: float = 1.5,
        jitter: float = 0.5,
        scale: float = 1.0 / 3.0,
        noise: float = 0.1,
        bounds: Sequence[Sequence[float]] | None = None,
    ):
        self.turns = _check_positive(name, "turns", turns)
        if not jitter >= 0:
            raise TargetError(
                f"target.jitter={jitter} for target {name!r}: must be >= 0"
            )
        self.jitter = float(jitter)
        self.t_range = (0.0, 2 * np.pi * self.turns)
        self._check_curve(name, noise, scale, (0.0, 0.0), bounds)

    def _point(self, xp, arm, t):
        sign = 1.0 - 2.0 * arm  # arm 1 is arm 0 reflected through the origin
        return -sign * t * xp.cos(t), sign * t * xp.sin(t)

    def _jitter(self, arm):
        return (0.0, self.jitter) if arm == 0 else (-self.jitter, 0.0)


def _read_table(path, shown: str) -> np.ndarray:
    """The numbers of a .npy or .csv file as a float array; TargetError naming the
    file (`shown`) and the problem otherwise."""
    from pathlib import Path

    path = Path(path)
    where = f"target.path={shown}"
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "no such file"
        raise TargetError(f"{where}: {what} ({path})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            with path.open() as f:
                first = f.readline()
            try:  # a first line that is not numbers is a header
                [float(v) for v in first.split(",")]
                skip = 0
            except ValueError:
                skip = 1
            data = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
        else:
            raise TargetError(
                f"{where}: unsupported format {suffix or '(no suffix)'!r}; use .npy or "
                ".csv (one column per axis)"
            )
    except TargetError:
        raise
    except Exception as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TargetError(f"{where}: cannot be read as {suffix}: {first_line}") from err
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise TargetError(f"{where}: holds {data.dtype} values, not numbers")
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise TargetError(
            f"{where}: an array of shape {list(data.shape)}; need rows of samples, "
            "one column per axis"
        )
    return data.astype(float)


class Empirical(AbstractTarget):
    """The user's own samples: a `.npy` array or a `.csv` table (an optional
    header line), one row per sample, one column per axis (1 or 2).

    The rows are shuffled with `split_seed` and split: a `holdout` fraction is
    held out, the rest is the train part. Models train on the train part
    (`sample` draws its rows with replacement); P is the held-out part's
    histogram (`bin_probs`), so the KL is against an estimate of the
    distribution, not an exact one; the noise floor (a perfect model: the train
    part, `sample`) is scored against it too, and `reference_sample` draws
    held-out rows for the sample-based metrics. Standardisation uses the train
    part's mean and std. `bounds` (null): the range of all rows, widened by
    `margin` times the range on each side. Default scoring grid: about 10
    held-out rows per cell were they spread evenly (5 to 50 cells per axis in
    1D, 5 to 30 in 2D).

    A relative `path` is relative to the folder the command was run from.
    Refused (TargetError naming the file and the problem): a missing or
    unreadable file, rows with NaN or Inf, not 1 or 2 columns, fewer than
    `min_samples` rows, a constant column.
    """

    def __init__(
        self,
        name: str,
        path: str,
        holdout: float = 0.2,
        split_seed: int = 0,
        bounds: Sequence[Any] | None = None,
        margin: float = 0.05,
        min_samples: int = 500,
    ):
        from hydra.utils import to_absolute_path

        self.name = name
        if not 0 < holdout < 1:
            raise TargetError(
                f"target.holdout={holdout} for target {name!r}: must be in (0, 1), "
                "the held-out fraction of the rows"
            )
        if not margin >= 0:
            raise TargetError(
                f"target.margin={margin} for target {name!r}: must be >= 0"
            )
        min_samples = _check_count(name, "min_samples", min_samples, 10)
        if not isinstance(path, str) or not path or path == "???":
            raise TargetError(
                f"target.path={path!r} for target {name!r}: give the data file, e.g. "
                "target.path=data/samples.npy (.npy or .csv, one column per axis)"
            )
        shown = repr(path)
        self.path = to_absolute_path(path)
        data = _read_table(self.path, shown)
        n, dim = data.shape
        where = f"target.path={shown}"
        if dim not in (1, 2):
            raise TargetError(
                f"{where}: {dim} columns; genbench takes 1 or 2 (one per axis)"
            )
        bad = int(np.sum(~np.all(np.isfinite(data), axis=1)))
        if bad:
            raise TargetError(
                f"{where}: {bad} of {n} rows hold NaN or Inf; remove them"
            )
        if n < min_samples:
            raise TargetError(
                f"{where}: {n} rows; at least target.min_samples={min_samples} are "
                "needed"
            )
        n_hold = int(round(holdout * n))
        if n_hold < 1 or n - n_hold < 1:
            raise TargetError(
                f"target.holdout={holdout} for target {name!r}: leaves an empty part "
                f"of the {n} rows"
            )
        perm = np.random.default_rng(split_seed).permutation(n)
        self.heldout_ = data[perm[:n_hold]]
        self.train_ = data[perm[n_hold:]]
        for part, rows in (("the file", data), ("the train part", self.train_)):
            constant = np.ptp(rows, axis=0) == 0
            if np.any(constant):
                col = int(np.argmax(constant))
                raise TargetError(
                    f"{where}: column {col + 1} is constant (every value "
                    f"{rows[0, col]:g}) in {part}; a constant axis has no "
                    "distribution to learn"
                )
        self.dim = dim
        # Scoring cells: about 10 held-out rows per cell were the mass spread
        # evenly (at least 5, at most the analytic targets' 50 in 1D, 30 in 2D), so
        # that P is not mostly empty cells; train.hist_bins overrides it.
        most = 50 if dim == 1 else 30
        per_axis = int(np.floor((n_hold / 10) ** (1 / dim)))
        self.default_hist_bins = int(np.clip(per_axis, 5, most))
        if bounds is None:
            lo, hi = data.min(0), data.max(0)
            pad = margin * (hi - lo)
            bounds = list(zip((lo - pad).tolist(), (hi + pad).tolist(), strict=True))
        self.bounds = _check_bounds(name, bounds, dim)
        self._train = jnp.asarray(self.train_, jnp.float32)
        self._heldout = jnp.asarray(self.heldout_, jnp.float32)

    @staticmethod
    def _draw(rows: Array, key, n):
        return rows[jr.randint(key, (n,), 0, rows.shape[0])]

    def sample(self, key, n):
        return self._draw(self._train, key, n)

    def reference_sample(self, key, n):
        return self._draw(self._heldout, key, n)

    def mean(self):
        return self.train_.mean(axis=0)

    def std(self):
        return self.train_.std(axis=0)

    def bin_probs(self, edges):
        # Open-ended grids repeat an infinite edge (an empty cell); histogramdd's
        # cell widths are then inf - inf. The counts do not use the widths.
        with np.errstate(invalid="ignore"):
            counts, _ = np.histogramdd(
                self.heldout_, bins=[np.asarray(e) for e in edges]
            )
        return counts / len(self.heldout_)

    def density(self, grid):
        """The held-out histogram's density on the scoring grid (1D)."""
        (e,) = self.hist_edges()
        p = self.bin_probs([e]) / np.diff(e)
        idx = np.searchsorted(e, grid, side="right") - 1
        inside = (grid >= e[0]) & (grid <= e[-1])
        return np.where(inside, p[np.clip(idx, 0, len(p) - 1)], 0.0)


MAX_BITS = 20  # more bits: too many states (2^bits) for an exact KL
EXACT_BITS = 16  # up to here the tests check the metrics by enumerating all states


class AbstractBinaryTarget(AbstractTarget):
    """Bit vectors of `dim` bits, uniform over a set of valid patterns.

    A concrete target's `__init__` builds its patterns, `(k, dim)` of 0/1, and
    hands them to `_set_patterns`, with the shape `(rows, cols)` they are drawn
    in. Data are the bits themselves (`encoding.Bits`, no binning), and samples
    are scored over all `2^dim` states (`patterns.PatternEvaluator`): KL and the
    other divergences, `precision` (the share of samples that are valid
    patterns) and `coverage` (the share of valid patterns among the first
    `coverage_samples` samples), as the Born-machine literature reports them.

    Raises TargetError for more than `MAX_BITS` bits; logs what is done between
    `EXACT_BITS` and `MAX_BITS`.
    """

    default_hist_bins = 2
    patterns_: np.ndarray
    pattern_shape: tuple[int, int]
    coverage_samples: int

    def _set_patterns(
        self, name: str, patterns: np.ndarray, shape, coverage_samples: int
    ) -> None:
        import logging

        self.name = name
        self.patterns_ = np.asarray(patterns, dtype=np.uint8)
        k, dim = self.patterns_.shape
        self.dim = dim
        self.pattern_shape = (int(shape[0]), int(shape[1]))
        self.coverage_samples = _check_count(
            name, "coverage_samples", coverage_samples, 1
        )
        self.bounds = ((-0.5, 1.5),) * dim  # one cell per bit value
        order = np.argsort(self.pattern_index())
        self.patterns_ = self.patterns_[order]  # sorted by state index
        if dim > EXACT_BITS:
            logging.getLogger("genbench").warning(
                f"target {name!r} has {dim} bits, 2^{dim} = {2**dim} states: "
                f"every metric is still an exact sum over all of them, computed "
                f"from P's {k} patterns and the states the samples hit (no table "
                f"of all states); the tests check that against a full "
                f"enumeration only up to {EXACT_BITS} bits"
            )

    @property
    def n_patterns(self) -> int:
        return self.patterns_.shape[0]

    def pattern_index(self) -> np.ndarray:
        """State index of every valid pattern (bit j worth 2^(dim-1-j)), `(k,)`,
        ascending."""
        weights = 2 ** np.arange(self.dim - 1, -1, -1, dtype=np.int64)
        return self.patterns_.astype(np.int64) @ weights

    def pattern_probs(self) -> np.ndarray:
        """P of every valid pattern, `(k,)`, in the order of `pattern_index`."""
        return np.full(self.n_patterns, 1.0 / self.n_patterns)

    @property
    def is_discrete(self) -> bool:
        return True

    def sample(self, key, n):
        idx = jr.randint(key, (n,), 0, self.n_patterns)
        return jnp.asarray(self.patterns_, jnp.float32)[idx]

    def mean(self):
        return self.pattern_probs() @ self.patterns_

    def std(self):
        m = self.mean()
        return np.sqrt(m * (1 - m))  # Bernoulli marginals

    def bin_probs(self, edges):
        """P of the cells of a grid over the `dim` axes: each pattern's
        probability in the cell holding it (the grid has prod(cells) entries:
        small grids only; scoring uses `evaluator`, not a grid)."""
        shape = tuple(len(e) - 1 for e in edges)
        out = np.zeros(shape)
        cell = [
            np.clip(np.searchsorted(e, self.patterns_[:, a], "right") - 1, 0, c - 1)
            for a, (e, c) in enumerate(zip(edges, shape, strict=True))
        ]
        inside = np.ones(self.n_patterns, bool)
        for a, e in enumerate(edges):
            inside &= (self.patterns_[:, a] >= e[0]) & (self.patterns_[:, a] <= e[-1])
        np.add.at(out, tuple(c[inside] for c in cell), self.pattern_probs()[inside])
        return out

    def binning_note(self, n_bins):
        return None

    def evaluator(self, encoding=None, hist_bins=None):
        from .patterns import PatternEvaluator

        return PatternEvaluator(self, encoding)

    def data_encoding(self, n_bins, decode):
        from .encoding import Bits

        if n_bins != 0:
            raise TargetError(
                f"bins.n={n_bins} is not allowed with target {self.name!r}: its "
                "data are bit vectors, which are not binned; allowed: 0"
            )
        return Bits(self.dim)


class BarsAndStripes(AbstractBinaryTarget):
    """Bars and stripes: `n x n` binary images whose rows are all constant
    (stripes) or whose columns are all constant (bars), uniform over the
    `2^(n+1) - 2` distinct ones (all-0 and all-1 are both). Pixels row-major.

    MacKay (2003), "Information Theory, Inference, and Learning Algorithms";
    the standard benchmark of quantum circuit Born machines (Benedetti et al.
    2019, npj Quantum Information 5:45; Liu and Wang 2018, Phys. Rev. A 98,
    062324), usually 3 x 3 (14 patterns) or 4 x 4 (30).

    Raises TargetError for `n` < 2 or `n * n` > 20 bits.
    """

    def __init__(self, name: str, n: int = 3, coverage_samples: int = 1000):
        most = int(np.floor(np.sqrt(MAX_BITS)))
        if int(n) != n or not 2 <= n <= most:
            raise TargetError(
                f"target.n={n} for target {name!r}: must be an integer in [2, "
                f"{most}] (n x n bits, at most {MAX_BITS} for an exact KL over "
                "the 2^(n*n) states)"
            )
        n = int(n)
        self.n = n
        rows = (np.arange(2**n)[:, None] >> np.arange(n - 1, -1, -1)) & 1  # (2^n, n)
        stripes = np.repeat(rows[:, :, None], n, axis=2)  # row i constant rows[i]
        bars = np.repeat(rows[:, None, :], n, axis=1)  # column j constant
        images = np.concatenate([stripes, bars]).reshape(-1, n * n)
        patterns = np.unique(images, axis=0)
        assert len(patterns) == 2 ** (n + 1) - 2
        self._set_patterns(name, patterns, (n, n), coverage_samples)


class Cardinality(AbstractBinaryTarget):
    """Cardinality-constrained bit strings: the `n_bits`-bit strings with
    exactly `k` ones, uniform over the C(n_bits, k) of them.

    The benchmark of Gili et al., "Do quantum circuit Born machines
    generalize?" (arXiv:2207.13645, 2022): 12 bits,
    k = 6 (924 patterns), scored by validity (precision here) and coverage.
    Drawn as a `rows x (n_bits / rows)` grid when `rows` divides `n_bits`.

    Raises TargetError for `n_bits` outside [2, 20] or `k` outside
    [1, n_bits - 1].
    """

    def __init__(
        self,
        name: str,
        n_bits: int = 12,
        k: int = 6,
        rows: int = 1,
        coverage_samples: int = 1000,
    ):
        if int(n_bits) != n_bits or not 2 <= n_bits <= MAX_BITS:
            raise TargetError(
                f"target.n_bits={n_bits} for target {name!r}: must be an integer in "
                f"[2, {MAX_BITS}] (at most {MAX_BITS} bits for an exact KL over the "
                "2^n_bits states)"
            )
        n_bits = int(n_bits)
        if int(k) != k or not 1 <= k <= n_bits - 1:
            raise TargetError(
                f"target.k={k} for target {name!r}: must be an integer in [1, "
                f"{n_bits - 1}] (ones per string of target.n_bits={n_bits})"
            )
        if int(rows) != rows or rows < 1 or n_bits % rows:
            raise TargetError(
                f"target.rows={rows} for target {name!r}: must divide "
                f"target.n_bits={n_bits} (the rows the strings are drawn in)"
            )
        self.n_bits, self.k = n_bits, int(k)
        states = np.arange(2**n_bits)
        bits = (states[:, None] >> np.arange(n_bits - 1, -1, -1)) & 1
        patterns = bits[bits.sum(1) == self.k]
        self._set_patterns(
            name, patterns, (int(rows), n_bits // int(rows)), coverage_samples
        )
