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
    covs = np.array([[[0.25]], [[0.25]]])  # sd 0.5: 1 sd = 0.5, 3 sd = 1.5
    # in sd of the nearest mode: 0.2 | 2.8 | 2.0 (to +2) | 0.8 | 4.0 (far) | NaN (far)
    x = jnp.array([[-2.1], [-0.6], [1.0], [2.4], [0.0], [jnp.nan]])
    within1, within3, far = mode_shares(x, means, covs)
    np.testing.assert_allclose(np.asarray(within1), [1 / 6, 1 / 6], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(within3), [2 / 6, 2 / 6], rtol=1e-6)
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


# --- divergences between distributions that each sum to 1 (issue 16, item 3) ---


def _random_pairs(rng, n_cells: int, draws: int):
    """Random P, Q (rows sum to 1) with zeros: random cells emptied, some rows
    one-hot, some with P = Q."""
    p = rng.dirichlet(np.full(n_cells, 0.3), size=draws)
    q = rng.dirichlet(np.full(n_cells, 0.3), size=draws)
    p[rng.random((draws, n_cells)) < 0.2] = 0.0
    q[rng.random((draws, n_cells)) < 0.2] = 0.0
    p[::7] = np.eye(n_cells)[rng.integers(0, n_cells, len(p[::7]))]
    p[p.sum(1) == 0, 0] = 1.0
    q[q.sum(1) == 0, -1] = 1.0
    p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    q[::5] = p[::5]
    return p, q


def test_divergences_are_nonnegative_and_zero_for_equal_distributions():
    import jax

    from genbench.metrics import hellinger, js_divergence, reverse_kl, total_variation

    divergences = {
        "kl": kl_divergence,
        "kl_reverse": reverse_kl,
        "js": js_divergence,
        "tv": total_variation,
        "hellinger": hellinger,
    }
    rng = np.random.default_rng(11)
    for n_cells in (1, 2, 7, 53):
        p, q = _random_pairs(rng, n_cells, 400)
        P, Q = jnp.asarray(p, jnp.float32), jnp.asarray(q, jnp.float32)
        for name, f in divergences.items():
            d = np.asarray(jax.vmap(f)(P, Q))
            same = np.asarray(jax.vmap(f)(P, P))
            assert np.all(d >= 0), (name, n_cells, d.min())
            np.testing.assert_allclose(same, 0.0, atol=1e-6, err_msg=name)
            # equal rows (every 5th) are 0 too
            np.testing.assert_allclose(d[::5], 0.0, atol=1e-6, err_msg=name)
    # and KL is still the specification's sum where it is positive
    p, q = _random_pairs(rng, 30, 50)
    for a, b in zip(p, q, strict=True):
        ref = np.sum(special.rel_entr(a, b + KL_EPS))
        got = float(kl_divergence(jnp.asarray(a), jnp.asarray(b)))
        assert np.isclose(got, max(ref, 0.0), rtol=1e-4, atol=1e-6)


def _target(name, *overrides):
    from hydra.utils import instantiate

    from .conftest import compose_cfg

    cfg = compose_cfg(f"target={name}", *overrides)
    return instantiate(cfg.target, _convert_="all")


def _score(target, x, encoding=None, hist_bins=None):
    import jax

    from genbench.metrics import Evaluator

    ev = Evaluator(target, encoding, hist_bins)
    x = jnp.asarray(x, jnp.float32)
    scores = jax.jit(ev.score)(x, jax.jit(ev.reference, static_argnums=0)(4000))
    return ev, {k: np.asarray(v) for k, v in scores.items()}


def test_kl_against_a_grid_that_cuts_off_target_mass_matches_numpy():
    """Bounds [-1, 1] leave most of 1d_bimodal outside: P and Q still sum to 1
    (an underflow and an overflow cell, an invalid cell), so KL >= 0."""
    target = _target("1d_bimodal", "target.bounds=[-1,1]")
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.uniform(-1, 1, 19_000), rng.normal(3, 1, 900)])
    x = np.concatenate([x, [np.nan] * 100])[:, None]  # 100 invalid samples
    ev, s = _score(target, x)
    assert np.isclose(ev.p_cells.sum(), 1.0, atol=1e-12)
    assert ev.p.sum() < 0.2  # most of the target lies beyond the range
    # numpy/scipy reference: P from the mixture's CDF, Q by numpy.histogram
    edges = np.linspace(-1, 1, 51)
    open_edges = np.concatenate([[-np.inf], edges, [np.inf]])
    cdf = sum(0.5 * stats.norm.cdf(open_edges, m, 0.4) for m in (-1.5, 1.5))
    p = np.append(np.diff(cdf), 0.0)
    finite = x[np.isfinite(x[:, 0]), 0]
    q = np.append(np.histogram(finite, open_edges)[0], 100) / len(x)
    assert np.isclose(q.sum(), 1.0)
    ref = np.sum(special.rel_entr(p, q + KL_EPS))
    assert ref > 0 and np.isclose(s["kl"], ref, rtol=1e-4)
    assert np.isclose(s["tv"], 0.5 * np.abs(p - q).sum(), rtol=1e-4)
    assert np.isclose(s["lost"], 1 - q[1:-2].sum(), atol=1e-6) and s["lost"] > 0.04
    assert np.isclose(s["invalid"], 100 / 20_000, atol=1e-6)
    np.testing.assert_allclose(s["hist"], q[1:-2], atol=1e-7)  # plots: in range
    # true samples (the floor) score >= 0 on the same grid
    _, floor = _score(target, np.asarray(ev.floor_samples(20_000)))
    for name in ("kl", "kl_reverse", "js", "tv", "hellinger"):
        assert floor[name] >= 0 and s[name] >= 0, name


def test_binned_and_continuous_grids_are_scored_by_the_same_code():
    from genbench.encoding import make_encoding
    from genbench.metrics import scoring_edges

    target = _target("2d_gmm")
    enc = make_encoding(target, 7)
    ev, s = _score(target, np.asarray(target.sample(jr_key(5), 30_000)), enc)
    for got, want in zip(ev.cell_edges, scoring_edges(enc.edges, True), strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.isclose(ev.p_cells.sum(), 1.0, atol=1e-9)
    np.testing.assert_allclose(ev.p, enc.bin_probs(target))  # tails in edge cells
    # the added outer cells are empty in binned mode: P there is 0
    grid = ev.p_cells[:-1].reshape(9, 9)
    assert grid[0].sum() == grid[-1].sum() == grid[:, 0].sum() == grid[:, -1].sum() == 0
    assert s["lost"] < 1e-6 and s["kl"] >= 0


def jr_key(i):
    import jax.random as jr

    return jr.key(i)


# --- mode coverage (item 4) ------------------------------------------------------


def _modes(target, x):
    """Modes covered by samples `x`, the target's shares from true samples (as
    the evaluation's fixed reference gives them)."""
    from genbench.metrics import mode_shares, modes_covered

    ref = target.sample(jr_key(20240601), 20_000)
    t1, t3, _ = mode_shares(ref, target.modes, target.mode_covs)
    x1, x3, _ = mode_shares(jnp.asarray(x, jnp.float32), target.modes, target.mode_covs)
    return int(np.sum(modes_covered(x1, x3, t1, t3, target.dim)))


def test_modes_uniform_smear_covers_none_and_the_target_covers_all():
    rng = np.random.default_rng(13)
    for name in ("1d_trimodal", "1d_quadmodal", "1d_bimodal", "2d_gmm", "2d_mix_gauss"):
        target = _target(name)
        lo, hi = np.asarray(target.bounds).T
        smear = rng.uniform(lo, hi, size=(20_000, target.dim))
        assert _modes(target, smear) == 0, name
        true = np.asarray(target.sample(jr_key(21), 20_000))
        assert _modes(target, true) == len(target.modes), name


def test_a_zero_weight_component_is_not_a_mode():
    target = _target("1d_trimodal", "target.weights=[0.5,0.5,0.0]")
    assert len(target.modes) == 2
    ev, s = _score(target, np.asarray(target.sample(jr_key(22), 20_000)))
    assert ev.n_modes == 2 and int(s["modes"]) == 2


def test_two_outer_modes_and_a_flat_floor_cover_two_of_four():
    # What a GAN on 1d_quadmodal learns: the outer modes, a floor in the middle.
    target = _target("1d_quadmodal")
    rng = np.random.default_rng(14)
    x = np.concatenate(
        [
            rng.normal(-2.5, 0.3, 5000),
            rng.normal(2.5, 0.3, 5000),
            rng.uniform(-1.6, 1.6, 10_000),
        ]
    )[:, None]
    assert _modes(target, x) == 2
    # one broad blob over the four modes of 2d_gmm covers none of them
    target = _target("2d_gmm")
    assert _modes(target, rng.normal(0, 2.0, (20_000, 2))) == 0


# --- intervals (item 9) --------------------------------------------------------


def test_intervals_stay_within_the_metric_range():
    from genbench.artifacts import seed_stats
    from genbench.metrics import METRIC_RANGES, METRICS
    from genbench.report import _interval, _stats

    assert set(METRIC_RANGES) == set(METRICS)
    values = [0.01, 0.02, 0.5]
    plain = seed_stats(np.array(values))["ci95"]
    assert plain[0] < 0  # the symmetric t-interval leaves the range
    for name in ("kl", "kl_reverse", "js", "tv", "hellinger", "w1", "kl_compat"):
        lo, hi = seed_stats(np.array(values), bounds=METRIC_RANGES[name])["ci95"]
        assert lo == 0.0 and hi == min(plain[1], METRIC_RANGES[name][1]), name
    assert _interval(_stats(values), "kl")[0] == 0.0  # the report: the same
    # bounded above too: shares near 1
    lo, hi = seed_stats(np.array([0.99, 0.98, 0.5]), bounds=(0.0, 1.0))["ci95"]
    assert hi == 1.0 and lo > 0
    # the unbiased MMD^2 can be negative: its interval is not cut
    mmd = seed_stats(np.array(values), bounds=METRIC_RANGES["mmd"])["ci95"]
    assert mmd == plain


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
