"""Metrics against independent references (numpy, scipy, hand computations)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from genbench.metrics import (
    KL_EPS,
    N_PROJECTIONS,
    histogram,
    js_divergence,
    kl_divergence,
    sliced_wasserstein,
    wasserstein1,
)


def test_histogram_1d_matches_numpy_and_counts_lost_mass():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, size=5000).astype(np.float32)
    edges = [np.linspace(-3, 3, 31)]
    q = np.asarray(histogram(jnp.asarray(x)[:, None], edges))
    counts, _ = np.histogram(x, edges[0])
    np.testing.assert_allclose(q, counts / len(x), atol=1e-7)
    inside = np.mean((x >= -3) & (x <= 3))
    assert abs(q.sum() - inside) < 1e-6 and inside < 0.9  # mass lost, not dropped


def test_histogram_edges_and_nan():
    x = jnp.array([[-1.0], [1.0], [0.5], [jnp.nan], [2.0]])
    q = np.asarray(histogram(x, [np.array([-1.0, 0.0, 1.0])]))
    np.testing.assert_allclose(q, [1 / 5, 2 / 5])  # right edge closed, NaN lost


def test_histogram_2d_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 2)).astype(np.float32)
    edges = [np.linspace(-2, 2, 9), np.linspace(-1, 3, 5)]
    q = np.asarray(histogram(jnp.asarray(x), edges))
    counts, *_ = np.histogram2d(x[:, 0], x[:, 1], edges)
    np.testing.assert_allclose(q, counts / len(x), atol=1e-7)


def test_kl_matches_scipy_with_the_specification_epsilon():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(20))
    p[3] = 0.0
    p /= p.sum()
    q = rng.dirichlet(np.ones(20))
    q[7] = 0.0
    ref = np.sum(special.rel_entr(p, q + KL_EPS))
    assert np.isclose(
        float(kl_divergence(jnp.asarray(p), jnp.asarray(q))), ref, rtol=1e-5
    )
    hand = sum(
        pi * np.log(pi / (qi + 1e-10)) for pi, qi in zip(p, q, strict=True) if pi > 0
    )
    assert np.isclose(ref, hand)
    assert float(kl_divergence(jnp.asarray(p), jnp.asarray(p))) < 1e-6


def test_w1_matches_scipy():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 3000), rng.gamma(2.0, 1.0, 3000)
    ref = stats.wasserstein_distance(x, y)
    got = float(wasserstein1(jnp.asarray(x), jnp.asarray(y)))
    assert np.isclose(got, ref, rtol=1e-5)
    got1d = float(sliced_wasserstein(jnp.asarray(x)[:, None], jnp.asarray(y)[:, None]))
    assert np.isclose(got1d, ref, rtol=1e-5)


def test_sliced_w1_of_a_shift_by_hand():
    # Projected on direction u, a sample shifted by d is its copy shifted by u.d, so
    # its W1 is exactly |u.d|; the directions are angles k pi / P, k < P, whose mean
    # |cos| tends to 2/pi.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, 2))
    d = np.array([0.6, -0.8])
    got = float(sliced_wasserstein(jnp.asarray(x + d), jnp.asarray(x)))
    angles = np.pi * np.arange(N_PROJECTIONS) / N_PROJECTIONS
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert np.isclose(got, np.mean(np.abs(dirs @ d)), rtol=1e-5)
    assert np.isclose(got, 2 / np.pi * np.linalg.norm(d), rtol=0.02)


def test_w1_leaves_out_invalid_samples():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=1000), rng.normal(1.0, 1.0, size=4000)
    ref = stats.wasserstein_distance(x, y)
    with_nan = np.concatenate([x, [np.nan] * 100])
    got = float(wasserstein1(jnp.asarray(with_nan), jnp.asarray(y)))
    assert np.isclose(got, ref, atol=5e-3)


def _two_histograms(seed=6, n=30):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    p[4], q[9] = 0.0, 0.0
    return p / p.sum(), q / q.sum()


def test_histogram_divergences_match_scipy_and_hand():
    from scipy.spatial.distance import jensenshannon

    from genbench.metrics import hellinger, js_divergence, reverse_kl, total_variation

    p, q = _two_histograms()
    P, Q = jnp.asarray(p), jnp.asarray(q)
    assert np.isclose(float(js_divergence(P, Q)), jensenshannon(p, q) ** 2, rtol=1e-5)
    assert np.isclose(
        float(total_variation(P, Q)), 0.5 * np.abs(p - q).sum(), rtol=1e-6
    )
    h = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))  # the other formula
    assert np.isclose(float(hellinger(P, Q)), h, rtol=1e-5)
    ref = np.sum(special.rel_entr(q, p + KL_EPS))
    assert np.isclose(float(reverse_kl(P, Q)), ref, rtol=1e-5)


def test_mmd_matches_a_brute_force_unbiased_estimate():
    from genbench.metrics import median_bandwidth, mmd_rbf

    rng = np.random.default_rng(7)
    x, y = rng.normal(0, 1, (60, 2)), rng.normal(0.5, 1, (80, 2))
    bw = 0.9

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * bw**2))

    kxx = sum(k(x[i], x[j]) for i in range(60) for j in range(60) if i != j) / (60 * 59)
    kyy = sum(k(y[i], y[j]) for i in range(80) for j in range(80) if i != j) / (80 * 79)
    kxy = sum(k(a, b) for a in x for b in y) / (60 * 80)
    got = float(mmd_rbf(jnp.asarray(x), jnp.asarray(y), bw))
    assert np.isclose(got, kxx + kyy - 2 * kxy, rtol=1e-4, atol=1e-6)
    dists = [np.linalg.norm(y[i] - y[j]) for i in range(80) for j in range(i + 1, 80)]
    assert np.isclose(
        float(median_bandwidth(jnp.asarray(y))), np.median(dists), rtol=1e-5
    )


def test_mode_shares_by_hand():
    from genbench.metrics import mode_shares

    means = np.array([[-2.0], [2.0]])
    covs = np.array([[[0.25]], [[0.25]]])  # sd 0.5: "near" means within 1.5
    # distances to the modes: 0.1 | 1.4 | 1.0 (to +2) | 0.4 | 2.0 (far) | NaN (far)
    x = jnp.array([[-2.1], [-0.6], [1.0], [2.4], [0.0], [jnp.nan]])
    shares, far = mode_shares(x, means, covs)
    np.testing.assert_allclose(np.asarray(shares), [2 / 6, 2 / 6], rtol=1e-6)
    assert np.isclose(float(far), 2 / 6)


def test_compat_kl_by_hand():
    from genbench.metrics import compat_kl

    y = jnp.array([[0.0], [1.0], [2.0], [3.0]])  # range [0, 3], 3 cells of width 1
    x = jnp.array([[0.5], [0.5], [2.9], [9.0]])
    p = np.array([1, 1, 2]) / 4 + 1e-6
    q = np.array([2, 0, 1]) / 3 + 1e-6  # 9.0 is outside the range: not counted
    p, q = p / p.sum(), q / q.sum()
    assert np.isclose(
        float(compat_kl(x, y, n_bins=3)), np.sum(p * np.log(p / q)), rtol=1e-5
    )


def test_kl_ignores_subnormal_cell_probabilities_inside_jit():
    """P with a cell of 2e-39 (a float32 subnormal: the 8-sd tails of the narrow
    modes of `2d_grid25`) compiled in as a constant: XLA on CPU flushed it to 0
    in the division but not in `p > 0`, and 0 * log(0) made the KL NaN. Such a
    cell holds no mass worth counting; the KL is that of the other cells."""
    import jax

    p = np.array([0.5, 0.5, 2.25e-39], np.float32)
    q = jnp.asarray([0.25, 0.5, 0.25], jnp.float32)
    ref = 0.5 * np.log(0.5 / (0.25 + KL_EPS)) + 0.5 * np.log(0.5 / (0.5 + KL_EPS))
    for f in (kl_divergence, js_divergence):
        got = jax.jit(lambda q, f=f: f(jnp.asarray(p), q))(q)
        assert np.isfinite(got)
    got = jax.jit(lambda q: kl_divergence(jnp.asarray(p), q))(q)
    np.testing.assert_allclose(got, ref, rtol=1e-6)
