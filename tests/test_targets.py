"""Targets: moments, exact cell probabilities against independent references."""

from __future__ import annotations

import jax.random as jr
import numpy as np
import pytest
from hydra.utils import instantiate
from scipy import stats

from genbench.targets import Beta1D, Mixture1D, Mixture2D, Poisson1D, TargetError

from .conftest import TARGETS, compose_cfg


def make(name):
    return instantiate(compose_cfg(f"target={name}").target, _convert_="all")


@pytest.mark.parametrize("name", TARGETS)
def test_samples_match_moments_and_exact_cells(name):
    target = make(name)
    x = np.asarray(target.sample(jr.key(1), 200_000))
    assert x.shape == (200_000, target.dim)
    np.testing.assert_allclose(x.mean(0), target.mean(), atol=0.02)
    np.testing.assert_allclose(x.std(0), target.std(), rtol=0.02)
    edges = target.hist_edges()
    p = target.bin_probs(edges)
    assert p.shape == tuple(len(e) - 1 for e in edges)
    assert np.all(p >= 0) and 0.99 < p.sum() <= 1 + 1e-9
    if target.dim == 1:
        counts, _ = np.histogram(x[:, 0], edges[0])
    else:
        counts, *_ = np.histogram2d(x[:, 0], x[:, 1], edges)
    q = counts / len(x)
    # Multinomial noise: 5 standard errors per cell, plus a small floor.
    tol = 5 * np.sqrt(p * (1 - p) / len(x)) + 1e-4
    assert np.all(np.abs(q - p) < tol)


def test_mixture1d_cells_match_scipy():
    t = Mixture1D("m", [-1.0, 2.0], [0.5, 0.3], [0.25, 0.75])
    e = np.linspace(-3, 3, 13)
    ref = 0.25 * np.diff(stats.norm.cdf(e, -1, 0.5)) + 0.75 * np.diff(
        stats.norm.cdf(e, 2, 0.3)
    )
    np.testing.assert_allclose(t.bin_probs([e]), ref, atol=1e-12)


def test_mixture2d_cells_match_scipy_rectangles():
    cov = [[0.5, 0.4], [0.4, 0.5]]
    t = Mixture2D("g", [[0.3, -0.2]], [cov])
    ex = np.array([-1.0, 0.0, 0.7])
    ey = np.array([-0.5, 0.2, 1.5])
    mvn = stats.multivariate_normal([0.3, -0.2], cov)

    def rect(a, b, c, d):  # P(a<x<b, c<y<d) by inclusion-exclusion of the CDF
        f = lambda x, y: mvn.cdf([x, y])  # noqa: E731
        return f(b, d) - f(a, d) - f(b, c) + f(a, c)

    ref = np.array(
        [[rect(ex[i], ex[i + 1], ey[j], ey[j + 1]) for j in range(2)] for i in range(2)]
    )
    np.testing.assert_allclose(t.bin_probs([ex, ey]), ref, atol=2e-5)


def test_beta_and_poisson_cells_match_scipy():
    t = Beta1D("b", 2.0, 5.0, support=(-2.5, 2.5))
    e = np.linspace(-2.5, 2.5, 11)
    ref = np.diff(stats.beta.cdf(e, 2, 5, loc=-2.5, scale=5))
    np.testing.assert_allclose(t.bin_probs([e]), ref, atol=1e-12)
    p = Poisson1D("p", 4.0)
    (edges,) = p.hist_edges()
    centres = (edges[:-1] + edges[1:]) / 2
    assert np.allclose(centres, np.round(centres))  # unit cells on the integers
    np.testing.assert_allclose(
        p.bin_probs([edges]), stats.poisson.pmf(centres + 4, 4.0), atol=1e-12
    )


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Mixture1D("m", [0, 1], [0.3, 0.3], [0.5, 0.6]), "sum to 1"),
        (lambda: Mixture1D("m", [0, 1], [0.3, -1.0]), "std must be > 0"),
        (lambda: Mixture2D("g", [[0, 0]], [[[1, 2], [2, 1]]]), "positive definite"),
        (lambda: Beta1D("b", -1.0, 2.0), "must be > 0"),
        (lambda: Poisson1D("p", 0.0), "must be > 0"),
    ],
)
def test_inconsistent_parameters_are_refused(build, message):
    with pytest.raises(TargetError, match=message):
        build()
