"""Target distributions: what the models learn.

Every target samples on device (`sample`), knows its analytic moments (used to
standardise data for the models), its histogram range, and the exact probability
of every histogram bin (from a CDF or a pmf), so that the KL divergence compares
the model against the true distribution rather than against another sample.

Add a target by writing a subclass and a YAML file under `conf/target/` whose
`_target_` names it; nothing else needs to change.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

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
    "Mixture2D",
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
        """A warning when `n_bins` cells per axis are too few to show this target."""
        modes = self.modes
        if modes is not None and n_bins < len(modes):
            return (
                f"bins.n={n_bins} is fewer cells than the {len(modes)} modes of "
                f"target {self.name!r}: the grid cannot separate them; use "
                f"bins.n >= {2 * len(modes)} to resolve them"
            )
        return None

    def density(self, grid: np.ndarray) -> np.ndarray:
        """Density (or pmf for discrete targets) at 1D points, for plots."""
        raise NotImplementedError(f"{type(self).__name__} has no 1D density")

    @property
    def is_discrete(self) -> bool:
        return False

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
                f"target.stds={list(stds)} for target {name!r}: need one std per mean "
                f"({k})"
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


class Mixture2D(AbstractTarget):
    """Mixture of 2D normals with full covariances."""

    dim = 2
    default_hist_bins = 30
    _n_quad = 24  # Gauss-Legendre nodes per x-cell for exact cell probabilities

    def __init__(
        self,
        name: str,
        means: Sequence[Sequence[float]],
        covs: Sequence[Sequence[Sequence[float]]],
        weights: Sequence[float] | None = None,
        bounds: Sequence[Sequence[float]] = ((-3.5, 3.5), (-3.5, 3.5)),
    ):
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
                f"target.covs for target {name!r}: need one 2x2 covariance per mean "
                f"({k}), got shape {list(c.shape)}"
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
        comp = jr.categorical(kc, jnp.log(jnp.asarray(self.weights_)), shape=(n,))
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
        ex, ey = edges
        nodes, wts = np.polynomial.legendre.leggauss(self._n_quad)
        total = np.zeros((len(ex) - 1, len(ey) - 1))
        for w, mu, cov in zip(self.weights_, self.means_, self.covs_, strict=True):
            sx = np.sqrt(cov[0, 0])
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
