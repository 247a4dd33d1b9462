"""genbench/targets.py: every target class (mixtures, curves, counts, the bit-vector
patterns, the empirical file target): samples, moments and exact cell
probabilities against independent references, bins per target, refusals."""

from __future__ import annotations

import logging
import math

import jax.random as jr
import numpy as np
import pytest
from hydra.utils import instantiate
from scipy import stats

from genbench.encoding import OneHotBins, make_encoding
from genbench.metrics import Evaluator, kl_divergence
from genbench.targets import (
    BarsAndStripes,
    Beta1D,
    Cardinality,
    Checkerboard2D,
    Empirical,
    Grid2D,
    Mixture1D,
    Mixture2D,
    Poisson1D,
    Ring2D,
    TargetError,
    TwoMoons2D,
    TwoSpirals2D,
)

from .conftest import (
    GRID_TARGETS,
    compose_cfg,
    make_target,
    normal_rows,
    state_bits,
    target_args,
)


def make(name):
    return instantiate(compose_cfg(*target_args(name)).target, _convert_="all")


@pytest.mark.parametrize("name", GRID_TARGETS)  # bit vectors: further below
def test_samples_match_moments_and_exact_cells(name):
    """`sample` has the target's mean and std; samples of P (`reference_sample`:
    `sample`'s, but the held-out part of an empirical target) fall in the cells
    of the scoring grid with the probabilities of `bin_probs`, also with the
    outer cells open as binned mode has them, where they sum to 1."""
    target = make(name)
    # 10^6 samples in 2D; the 1D samplers (Beta, Poisson) are slow on CPU.
    n = 1_000_000 if target.dim == 2 else 200_000
    x = np.asarray(target.sample(jr.key(1), n))
    assert x.shape == (n, target.dim)
    assert np.all(np.abs(x.mean(0) - target.mean()) < 5 * target.std() / np.sqrt(n))
    np.testing.assert_allclose(x.std(0), target.std(), rtol=0.01)
    edges = target.hist_edges()
    p = target.bin_probs(edges)
    assert p.shape == tuple(len(e) - 1 for e in edges)
    assert np.all(p >= 0) and 0.99 < p.sum() <= 1 + 1e-9
    enc = OneHotBins(tuple(edges))
    p_open = enc.bin_probs(target)
    assert np.all(p_open >= p - 1e-15) and abs(p_open.sum() - 1) < 1e-6
    xp = target.reference_sample(jr.key(2), n)
    flat = np.ravel_multi_index(np.asarray(enc.index(xp)).T, p.shape)
    counts = np.bincount(flat, minlength=p.size).reshape(p.shape)
    # Multinomial noise: 5 standard errors per cell, plus 3 samples for the cells
    # that expect almost none.
    tol = 5 * np.sqrt(n * p_open * (1 - p_open)) + 3
    assert np.all(np.abs(counts - n * p_open) <= tol)


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
        (lambda: Ring2D("r", radius=0.0), r"target.radius=0.0 .*must be > 0"),
        (lambda: Ring2D("r", std=-0.1), r"target.std=-0.1 .*must be > 0"),
        (lambda: Ring2D("r", n_modes=1), r"target.n_modes=1 .*integer >= 2"),
        (lambda: Grid2D("g", n_per_side=1), r"target.n_per_side=1 .*integer >= 2"),
        (lambda: Grid2D("g", spacing=0.0), r"target.spacing=0.0 .*must be > 0"),
        (lambda: Grid2D("g", std=0.0), r"target.std=0.0 .*must be > 0"),
        (lambda: Checkerboard2D("c", n_per_side=1), r"target.n_per_side=1 .*>= 2"),
        (lambda: Checkerboard2D("c", square=-2.0), r"target.square=-2.0 .*> 0"),
        (lambda: TwoMoons2D("m", noise=0.0), r"target.noise=0.0 .*must be > 0"),
        (lambda: TwoMoons2D("m", scale=-1.0), r"target.scale=-1.0 .*must be > 0"),
        (lambda: TwoMoons2D("m", shift=[1.0]), r"target.shift=\[1.0\] .*\[x, y\]"),
        (lambda: TwoSpirals2D("s", turns=0.0), r"target.turns=0.0 .*must be > 0"),
        (lambda: TwoSpirals2D("s", jitter=-1.0), r"target.jitter=-1.0 .*>= 0"),
        (lambda: Ring2D("r", bounds=[[1, -1], [0, 1]]), "low < high"),
    ],
)
def test_inconsistent_parameters_are_refused(build, message):
    with pytest.raises(TargetError, match=message):
        build()


def _mc_matches(p: np.ndarray, x: np.ndarray, edges) -> bool:
    """`x`'s cell counts on `edges` agree with `p` within 5 standard errors
    (plus 3 samples for the cells that expect almost none)."""
    counts, *_ = np.histogram2d(x[:, 0], x[:, 1], edges)
    n = len(x)
    return bool(np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 3))


def test_ring_and_grid_have_the_literature_modes_at_cell_centres():
    ring, grid = make("2d_ring8"), make("2d_grid25")
    assert len(ring.modes) == 8 and len(grid.modes) == 25
    angles = np.arctan2(ring.modes[:, 1], ring.modes[:, 0]) % (2 * np.pi)
    np.testing.assert_allclose(np.sort(angles), 2 * np.pi * np.arange(8) / 8)
    np.testing.assert_allclose(np.linalg.norm(ring.modes, axis=1), 1.0)
    np.testing.assert_allclose(
        ring.mode_covs, np.broadcast_to(1e-4 * np.eye(2), (8, 2, 2))
    )
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    assert sorted(map(tuple, grid.modes)) == [(a, b) for a in axis for b in axis]
    np.testing.assert_allclose(
        grid.mode_covs, np.broadcast_to(0.05**2 * np.eye(2), (25, 2, 2))
    )
    np.testing.assert_allclose(grid.mode_weights, 1 / 25)
    # scoring grids: every grid mode and the ring's axis modes at a cell centre
    for target, modes in ((grid, grid.modes), (ring, ring.modes[::2])):
        (e, _) = target.hist_edges()
        centres = (e[:-1] + e[1:]) / 2
        assert np.all(np.min(np.abs(modes[:, :, None] - centres), axis=-1) < 1e-9)
    # a mode's cell holds all but its 4-sd (grid) or 4.3-sd (ring) tails
    p = grid.bin_probs(grid.hist_edges())
    assert np.sort(p.ravel())[-25:].min() > (1 - 2 * stats.norm.sf(4)) ** 2 / 25 - 1e-12


def test_isotropic_mixture_cells_match_scipy_rectangles():
    t = Ring2D("r", n_modes=3, radius=1.0, std=0.3)
    ex = np.array([-1.5, -0.2, 0.4, 2.0])
    ey = np.array([-1.0, 0.1, 1.2])
    ref = np.zeros((3, 2))
    for mu in t.modes:
        mvn = stats.multivariate_normal(mu, 0.09 * np.eye(2))
        f = lambda x, y, mvn=mvn: mvn.cdf([x, y])  # noqa: E731
        for i in range(3):
            for j in range(2):
                a, b, c, d = ex[i], ex[i + 1], ey[j], ey[j + 1]
                ref[i, j] += (f(b, d) - f(a, d) - f(b, c) + f(a, c)) / 3
    np.testing.assert_allclose(t.bin_probs([ex, ey]), ref, atol=2e-5)


def test_checkerboard_matches_ffjord_generator_and_hand_areas():
    t = make("2d_checkerboard")
    # FFJORD's generator (lib/toy_data.py, "checkerboard"), in numpy
    rng = np.random.default_rng(0)
    n = 1_000_000
    x1 = rng.random(n) * 4 - 2
    x2 = rng.random(n) - rng.integers(0, 2, n) * 2 + np.floor(x1) % 2
    x = np.stack([x1, x2], axis=1) * 2
    edges = t.hist_edges()
    assert _mc_matches(t.bin_probs(edges), x, edges)
    # cells = the squares: 1/8 on the dark ones (lower-left dark), 0 elsewhere
    sq = [np.linspace(-4, 4, 5)] * 2
    i, j = np.meshgrid(range(4), range(4), indexing="ij")
    np.testing.assert_allclose(t.bin_probs(sq), np.where((i + j) % 2 == 0, 1 / 8, 0))
    # [-1, 1]^2 around the origin: a 1 x 1 corner of two dark squares, of the
    # 8 x 4 = 32 dark area
    np.testing.assert_allclose(t.bin_probs([[-1, 1]] * 2), [[2 / 32]])
    np.testing.assert_allclose(t.mean(), 0.0)
    np.testing.assert_allclose(t.std(), 8 / np.sqrt(12))  # uniform on [-4, 4] per axis


def test_two_moons_match_make_moons_and_hand_moments():
    t = make("2d_two_moons")
    # scikit-learn's make_moons(n, noise=0.1) (sklearn/datasets/_samples_generator.py)
    rng = np.random.default_rng(0)
    n = 1_000_000
    n_out = n // 2
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n - n_out)
    x = np.concatenate(
        [
            np.stack([np.cos(t_out), np.sin(t_out)], 1),
            np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1),
        ]
    )
    x += rng.normal(scale=0.1, size=x.shape)
    edges = t.hist_edges()
    assert _mc_matches(t.bin_probs(edges), x, edges)
    # by hand: E[x] = (0 + 1) / 2, E[y] = (2/pi + 1/2 - 2/pi) / 2;
    # var x = (1/2 + 3/2) / 2 - 1/4, var y = (1/2 + 3/4 - 2/pi) / 2 - 1/16, + noise^2
    np.testing.assert_allclose(t.mean(), [0.5, 0.25], atol=1e-12)
    var = np.array([0.75, 0.5625 - 1 / np.pi]) + 0.01
    np.testing.assert_allclose(t.std(), np.sqrt(var), rtol=1e-12)
    # FFJORD's "moons": scale 2, shift (-1, -0.2), noise 0.2
    f = TwoMoons2D("f", noise=0.2, scale=2.0, shift=[-1.0, -0.2])
    np.testing.assert_allclose(f.mean(), [0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(f.std(), np.sqrt(4 * (var - 0.01) + 0.2**2), rtol=1e-12)


def test_spirals_match_ffjord_generator():
    t = make("2d_spirals")
    # FFJORD's generator (lib/toy_data.py, "2spirals"), in numpy
    rng = np.random.default_rng(0)
    n = 1_000_000
    m = np.sqrt(rng.random((n // 2, 1))) * 540 * (2 * np.pi) / 360
    d1x = -np.cos(m) * m + rng.random((n // 2, 1)) * 0.5
    d1y = np.sin(m) * m + rng.random((n // 2, 1)) * 0.5
    x = np.vstack((np.hstack((d1x, d1y)), np.hstack((-d1x, -d1y)))) / 3
    x += rng.normal(size=x.shape) * 0.1
    edges = t.hist_edges()
    assert _mc_matches(t.bin_probs(edges), x, edges)
    np.testing.assert_allclose(t.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(t.std(), x.std(0), rtol=0.005)


@pytest.mark.parametrize("name", ["2d_two_moons", "2d_spirals"])
def test_curve_quadrature_has_converged(name):
    """Twice the nodes per noise sd, and twice the nodes per panel, change no
    cell of a fine 100 x 100 grid by 1e-10."""
    t = make(name)
    edges = [np.linspace(lo, hi, 101) for lo, hi in t.bounds]
    p = t.bin_probs(edges)
    t._panel_noise /= 2
    t._n_quad *= 2
    assert np.abs(t.bin_probs(edges) - p).max() < 1e-10


def test_binning_note_counts_mode_positions_per_axis():
    grid = make("2d_grid25")
    assert grid.binning_note(5) is None  # 5 positions per axis: separable
    assert "5 distinct mode positions" in grid.binning_note(4)
    assert make("2d_ring8").binning_note(5) is None  # x in {0, +-0.71, +-1}
    assert "cannot separate" in make("2d_ring8").binning_note(4)


def test_poisson_bins_align_to_integers():
    target = make_target("1d_poisson")
    (unit,) = target.hist_edges()
    (e20,) = target.bin_edges(20)
    np.testing.assert_allclose(e20[: len(unit)], unit)  # one integer per cell
    (e7,) = target.bin_edges(7)
    assert np.allclose((e7 + 0.5) % 1, 0) and np.all(np.diff(e7) == 2)


def test_too_few_bins_for_a_target_gets_a_clear_note():
    assert "cannot separate" in make_target("1d_trimodal").binning_note(2)
    assert make_target("1d_trimodal").binning_note(7) is None
    note = make_target("1d_poisson").binning_note(7)
    assert "each cell holds 2 integers" in note and "bins.n >= 14" in note
    assert make_target("1d_poisson").binning_note(20) is None


def test_bars_and_stripes_are_the_images_with_constant_rows_or_columns():
    two = BarsAndStripes("b", n=2)
    # by hand: blank, full, two stripes, two bars
    expected = {(0, 0, 0, 0), (1, 1, 1, 1), (1, 1, 0, 0), (0, 0, 1, 1)}
    expected |= {(1, 0, 1, 0), (0, 1, 0, 1)}
    assert {tuple(r) for r in two.patterns_.tolist()} == expected
    for n in (2, 3, 4):
        t = BarsAndStripes("b", n=n)
        assert t.n_patterns == 2 ** (n + 1) - 2 and t.dim == n * n
        # an independent check: enumerate all 2^(n*n) images
        images = state_bits(np.arange(2 ** (n * n)), n * n).reshape(-1, n, n)
        rows = np.all(images == images[:, :, :1], axis=(1, 2))
        cols = np.all(images == images[:, :1, :], axis=(1, 2))
        want = images[rows | cols].reshape(-1, n * n).astype(np.uint8)
        np.testing.assert_array_equal(np.unique(t.patterns_, axis=0), want)
        assert np.all(np.diff(t.pattern_index()) > 0)
    c = Cardinality("c", n_bits=12, k=6, rows=2)
    assert c.n_patterns == math.comb(12, 6) == 924 and c.pattern_shape == (2, 6)
    assert (
        np.all(c.patterns_.sum(1) == 6) and len(np.unique(c.patterns_, axis=0)) == 924
    )


@pytest.mark.parametrize(
    "target", [BarsAndStripes("b", n=3), Cardinality("c", n_bits=6, k=2)]
)
def test_samples_are_uniform_over_the_patterns_with_the_analytic_moments(target):
    n = 200_000
    x = np.asarray(target.sample(jr.key(0), n))
    assert set(np.unique(x)) <= {0.0, 1.0}
    idx = x.astype(np.int64) @ (2 ** np.arange(target.dim - 1, -1, -1))
    valid = target.pattern_index()
    assert np.all(np.isin(idx, valid))
    counts = np.array([(idx == v).sum() for v in valid])
    p = target.pattern_probs()
    assert np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p)))
    np.testing.assert_allclose(x.mean(0), target.mean(), atol=5 / np.sqrt(n))
    np.testing.assert_allclose(x.std(0), target.std(), atol=5 / np.sqrt(n))
    # bin_probs on a grid of one cell per bit value: each pattern in its cell
    edges = target.hist_edges()
    if target.dim <= 9:
        cells = target.bin_probs(edges)
        assert abs(cells.sum() - 1) < 1e-12
        assert cells[tuple(target.patterns_[0])] == pytest.approx(p[0])


def test_cardinality_bounds_and_the_warning_past_16_bits(caplog):
    for kwargs, key in (
        ({"n_bits": 21}, "target.n_bits=21"),
        ({"n_bits": 1}, "target.n_bits=1"),
        ({"n_bits": 8, "k": 0}, "target.k=0"),
        ({"n_bits": 8, "k": 8}, "target.k=8"),
        ({"n_bits": 8, "k": 2, "rows": 3}, "target.rows=3"),
    ):
        with pytest.raises(TargetError, match=key):
            Cardinality("c", **kwargs)
    with caplog.at_level(logging.WARNING, logger="genbench"):
        Cardinality("c", n_bits=16, k=1)
        assert not caplog.records
        t = Cardinality("c", n_bits=18, k=1)
    assert t.n_patterns == 18
    assert "2^18 = 262144 states" in caplog.text and "16 bits" in caplog.text


def _as_set(a):
    """Rows as a set (as float32: samples are float32 on device)."""
    return {tuple(r) for r in np.asarray(a, np.float32).tolist()}


def test_split_is_fixed_disjoint_and_covers_the_file(tmp_path):
    data = normal_rows()
    np.save(tmp_path / "d.npy", data)
    t = Empirical("e", str(tmp_path / "d.npy"))
    u = Empirical("e", str(tmp_path / "d.npy"))
    assert len(t.heldout_) == 200 and len(t.train_) == 800  # holdout 0.2
    np.testing.assert_array_equal(t.heldout_, u.heldout_)  # the same split each run
    np.testing.assert_array_equal(
        np.sort(np.concatenate([t.train_, t.heldout_]), axis=0), np.sort(data, axis=0)
    )
    other = Empirical("e", str(tmp_path / "d.npy"), split_seed=1, holdout=0.3)
    assert len(other.heldout_) == 300 and not np.array_equal(
        other.train_[:5], t.train_[:5]
    )
    # standardised with the train part's moments
    np.testing.assert_allclose(t.mean(), t.train_.mean(0))
    np.testing.assert_allclose(t.std(), t.train_.std(0))
    assert t.dim == 2 and t.modes is None
    # about 10 held-out rows per cell: sqrt(200 / 10) -> 4, at least 5 per axis
    assert t.default_hist_bins == 5 and len(t.hist_edges()[0]) == 6
    big = tmp_path / "big.npy"
    np.save(big, normal_rows(40_000))
    assert Empirical("e", str(big)).default_hist_bins == 28  # sqrt(8000 / 10)


def test_samples_are_train_rows_and_p_is_the_heldout_histogram(tmp_path):
    np.save(tmp_path / "d.npy", normal_rows())
    t = Empirical("e", str(tmp_path / "d.npy"))
    x = np.asarray(t.sample(jr.key(0), 5000))
    assert _as_set(x) <= _as_set(t.train_) and len(_as_set(x)) > 700
    r = np.asarray(t.reference_sample(jr.key(0), 5000))
    assert _as_set(r) <= _as_set(t.heldout_)
    edges = [np.linspace(-3, 4, 8), np.array([-9.0, -2.0, 0.0, 1.0, 9.0])]
    counts, *_ = np.histogram2d(t.heldout_[:, 0], t.heldout_[:, 1], edges)
    np.testing.assert_allclose(t.bin_probs(edges), counts / 200)
    # bounds: the range of all rows, 5 % of it added on each side
    data = np.concatenate([t.train_, t.heldout_])
    lo, hi = data.min(0), data.max(0)
    np.testing.assert_allclose(
        np.array(t.bounds).T, [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)]
    )
    # binned mode: open edge cells hold every held-out row
    assert np.isclose(make_encoding(t, 12).bin_probs(t).sum(), 1.0)


def test_floor_is_train_against_heldout_and_reference_is_heldout(tmp_path):
    """The floor scores the train part (a perfect model of it) against P; the
    sample-based metrics compare with held-out rows, not train rows."""
    np.save(tmp_path / "d.npy", normal_rows(2000))
    t = Empirical("e", str(tmp_path / "d.npy"))
    ev = Evaluator(t, None, None)
    n = 4000
    ref = ev.reference(n)
    assert _as_set(ref["all"]) <= _as_set(t.heldout_)
    floor_x = ev.floor_samples(n)
    assert _as_set(floor_x) <= _as_set(t.train_)
    scores = ev.score(floor_x, ref)
    q, *_ = np.histogram2d(*np.asarray(floor_x).T, ev.edges)
    np.testing.assert_allclose(scores["kl"], kl_divergence(ev.p, q / n), rtol=1e-5)
    assert len(ev.edges[0]) == 7 and scores["kl"] > 0  # 400 held-out rows, 6 x 6


def test_csv_with_header_1d_and_2d_and_relative_paths(tmp_path, monkeypatch):
    data = normal_rows(600)
    np.savetxt(tmp_path / "two.csv", data, delimiter=",", header="x,y", comments="")
    np.savetxt(tmp_path / "one.csv", data[:, :1], delimiter=",")
    np.save(tmp_path / "two.npy", data)
    monkeypatch.chdir(tmp_path)  # relative to where the command runs
    a = Empirical("e", "two.csv")
    b = Empirical("e", "two.npy")
    np.testing.assert_allclose(a.train_, b.train_)
    one = Empirical("e", "one.csv", bounds=[-4, 5])
    assert one.dim == 1 and one.bounds == ((-4.0, 5.0),)
    assert one.default_hist_bins == 12  # 120 held-out rows / 10
    np.testing.assert_allclose(one.train_[:, 0], b.train_[:, 0])
    grid = np.linspace(-4, 5, 7)
    (e,) = one.hist_edges()
    dens = one.density(grid)
    assert np.isclose(np.sum(one.bin_probs([e])), 1.0) and np.all(dens >= 0)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("folder", "is a folder"),
        ("text.npy", "cannot be read as .npy"),
        ("bad.csv", "cannot be read as .csv"),
        ("data.txt", "unsupported format '.txt'"),
        ("nan.npy", "3 of 600 rows hold NaN or Inf"),
        ("three.npy", "3 columns; genbench takes 1 or 2"),
        ("cube.npy", "an array of shape [10, 10, 10]"),
        ("few.npy", "40 rows; at least target.min_samples=500"),
        ("const.npy", "column 2 is constant (every value 3)"),
        ("words.npy", "holds <U1 values, not numbers"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_the_problem(
    tmp_path, content, message
):
    rows = normal_rows(600)
    name = content or "missing.npy"
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif content == "text.npy":
        path.write_text("not an array")
    elif content == "bad.csv":
        path.write_text("1.0,2.0\n3.0,oops\n")
    elif content == "data.txt":
        path.write_text("1 2\n")
    elif content == "nan.npy":
        rows[[3, 70, 500], 1] = [np.nan, np.inf, -np.inf]
        np.save(path, rows)
    elif content == "three.npy":
        np.save(path, np.hstack([rows, rows[:, :1]]))
    elif content == "cube.npy":
        np.save(path, np.zeros((10, 10, 10)))
    elif content == "few.npy":
        np.save(path, rows[:40])
    elif content == "const.npy":
        rows[:, 1] = 3.0
        np.save(path, rows)
    elif content == "words.npy":
        np.save(path, np.array(["a", "b"] * 300))
    with pytest.raises(TargetError) as err:
        Empirical("e", str(path))
    text = str(err.value)
    assert "\n" not in text and f"target.path='{path}'" in text and message in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"holdout": 1.0}, "target.holdout=1.0"),
        ({"holdout": 0.0}, "must be in (0, 1)"),
        ({"margin": -0.1}, "target.margin=-0.1"),
        ({"min_samples": 2}, "target.min_samples=2"),
        ({"holdout": 0.0001}, "leaves an empty part"),
    ],
)
def test_bad_split_settings_are_refused(tmp_path, kwargs, message):
    np.save(tmp_path / "d.npy", normal_rows(600))
    with pytest.raises(
        TargetError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        Empirical("e", str(tmp_path / "d.npy"), **kwargs)
