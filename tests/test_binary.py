"""Bit-vector targets: patterns, exact scoring over all states, Bernoulli models."""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench.config import ConfigError, build_run
from genbench.models import GAN, RBM, VAE
from genbench.models.vae import vae_loss
from genbench.targets import BarsAndStripes, Cardinality, TargetError

from .conftest import FAST, compose_cfg, run_cli

EPS = 1e-10


def _bits(states, d):
    return ((np.asarray(states)[:, None] >> np.arange(d - 1, -1, -1)) & 1).astype(
        np.float32
    )


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
        images = _bits(np.arange(2 ** (n * n)), n * n).reshape(-1, n, n)
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


def _dense_metrics(x, target, n_first):
    """Every metric by enumerating all 2^bits states (numpy, independent of
    genbench.metrics): P and Q as dense tables plus an invalid cell."""
    d = target.dim
    finite = np.all(np.isfinite(x), axis=1)
    idx = (np.where(finite[:, None], x, 0) > 0.5).astype(np.int64) @ (
        2 ** np.arange(d - 1, -1, -1)
    )
    q = np.zeros(2**d + 1)
    np.add.at(q, np.where(finite, idx, 2**d), 1.0)
    q /= len(x)
    p = np.zeros(2**d + 1)
    p[target.pattern_index()] = target.pattern_probs()

    def kl(a, b, eps=EPS):
        on = a > 0
        return np.sum(a[on] * np.log(a[on] / (b[on] + eps)))

    m = (p + q) / 2
    valid = np.zeros(2**d + 1, bool)
    valid[target.pattern_index()] = True
    seen = np.unique(idx[:n_first][finite[:n_first] & valid[idx[:n_first]]])
    return {
        "kl": kl(p, q),
        "kl_reverse": kl(q, p),
        "js": 0.5 * kl(p, m, 0) + 0.5 * kl(q, m, 0),
        "tv": 0.5 * np.abs(p - q).sum(),
        "hellinger": np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)),
        "precision": q[:-1][valid[:-1]].sum(),
        "coverage": len(seen) / target.n_patterns,
        "invalid": q[-1],
    }


@pytest.mark.parametrize(
    "target",
    [
        BarsAndStripes("b", n=2, coverage_samples=40),
        BarsAndStripes("b", n=4, coverage_samples=300),
        Cardinality("c", n_bits=16, k=3, coverage_samples=500),
    ],
    ids=["bas2", "bas4", "card16"],
)
def test_pattern_metrics_equal_a_full_enumeration_of_the_states(target):
    """Samples of half valid patterns, half any states, some repeated, a few
    NaN rows: the on-device metrics equal the dense sums over all 2^bits states."""
    rng = np.random.default_rng(1)
    n = 1000
    d = target.dim
    valid = target.patterns_[rng.integers(0, target.n_patterns, n // 2)]
    other = _bits(rng.integers(0, 2**d, n // 4), d)
    repeated = np.repeat(other[:5], 50, axis=0)  # states hit many times
    x = np.concatenate([valid, other, repeated]).astype(np.float32)[:n]
    x[rng.choice(n, 7, replace=False)] = np.nan
    ev = target.evaluator()
    ref = ev.reference(n)
    got = jax.jit(ev.score)(jnp.asarray(x), ref)
    want = _dense_metrics(x, target, target.coverage_samples)
    for name, value in want.items():
        np.testing.assert_allclose(float(got[name]), value, rtol=2e-5, atol=1e-6)
    assert got["hist"].shape == (target.n_patterns,)
    for name in ("kl_compat", "modes", "far"):
        assert np.isnan(float(got[name]))


def test_pattern_metrics_by_hand():
    """2 x 2 bars and stripes (6 patterns, 1/6 each), five samples: blank twice,
    the top stripe, one invalid image, one NaN row."""
    t = BarsAndStripes("b", n=2, coverage_samples=3)
    x = np.array(
        [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [np.nan] * 4],
        np.float32,
    )
    ev = t.evaluator()
    got = ev.score(jnp.asarray(x), ev.reference(5))
    assert float(got["precision"]) == pytest.approx(3 / 5)
    assert float(got["coverage"]) == pytest.approx(2 / 6)  # first 3: two patterns
    assert float(got["invalid"]) == pytest.approx(1 / 5)
    sixth = 1 / 6
    kl = sixth * np.log(sixth / 0.4) + sixth * np.log(sixth / 0.2)
    kl += 4 * sixth * np.log(sixth / EPS)
    assert float(got["kl"]) == pytest.approx(kl, rel=1e-5)
    rkl = 0.4 * np.log(0.4 / sixth) + 0.2 * np.log(0.2 / sixth)
    rkl += 2 * 0.2 * np.log(0.2 / EPS)  # the invalid image and the NaN row
    assert float(got["kl_reverse"]) == pytest.approx(rkl, rel=1e-5)
    tv = 0.5 * (abs(0.4 - sixth) + abs(0.2 - sixth) + 4 * sixth + 0.2 + 0.2)
    assert float(got["tv"]) == pytest.approx(tv, rel=1e-5)


def test_an_evaluation_smaller_than_coverage_samples_is_refused():
    t = BarsAndStripes("b", n=3, coverage_samples=1000)
    with pytest.raises(ValueError, match="target.coverage_samples=1000"):
        t.evaluator().reference(500)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["target.n=1"], "target.n=1 for target 'binary_bars_stripes': must be an"),
        (["target.n=5"], "target.n=5 for target 'binary_bars_stripes': must be an"),
        (["bins.n=8"], "bins.n=8 is not allowed with target 'binary_bars_stripes'"),
        (["target.coverage_samples=0"], "target.coverage_samples=0"),
    ],
)
def test_bad_binary_settings_are_refused_in_one_line(overrides, message):
    cfg = compose_cfg("target=binary_bars_stripes", *overrides, *FAST)
    with pytest.raises(ConfigError, match=message):
        build_run(cfg)


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


# --- the families with Bernoulli units -------------------------------------------


def test_gan_straight_through_bernoulli_draws_and_gradients():
    fam = GAN(bernoulli=True, latent_dim=2)
    nets = fam.build(jr.key(0), 3, 4)
    logits = jnp.array([-1.5, 0.0, 2.0])

    class Fixed:  # a generator with fixed output logits
        def __call__(self, z):
            return jnp.broadcast_to(logits, (z.shape[0], 3)) + 0 * z[:, :1]

    z = jnp.zeros((200_000, 2))
    hard = fam._fake(Fixed(), z, jr.key(1), straight_through=False)
    assert set(np.unique(np.asarray(hard))) == {0.0, 1.0}
    np.testing.assert_allclose(
        np.asarray(hard).mean(0), jax.nn.sigmoid(logits), atol=4e-3
    )
    # straight through: forward values are the draws, gradients are the relaxed
    # sigmoid's (nonzero), so the generator trains through its samples
    st = np.asarray(fam._fake(nets.generator, z[:64], jr.key(2)))
    np.testing.assert_allclose(st, np.round(st), atol=1e-6)  # hard + soft - soft

    def loss(g):
        return jnp.sum(fam._fake(g, z[:64] + 1.0, jr.key(2)))

    grads = jax.grad(loss)(nets.generator)
    assert float(jnp.abs(grads.out.weight).sum()) > 0
    assert fam.output_kind == "states"


def test_vae_bernoulli_decoder_loss_and_samples():
    fam = VAE(bernoulli=True, latent_dim=2)
    nets = fam.build(jr.key(0), 4, 8)
    x = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    eps = jnp.zeros((2, 2))
    _, (recon, _) = vae_loss(nets, x, eps, 0.1, None, True)
    stats = nets.encoder(x)
    out = np.asarray(nets.decoder(stats[:, :2]), float)
    p = 1 / (1 + np.exp(-out))  # by hand: binary cross-entropy of the bits
    xn = np.asarray(x)
    bce = -(xn * np.log(p) + (1 - xn) * np.log(1 - p)).sum(1).mean()
    assert float(recon) == pytest.approx(bce, rel=1e-5)
    _, (mse, _) = vae_loss(nets, x, eps, 0.1, None, False)
    assert float(mse) == pytest.approx(((xn - out) ** 2).sum(1).mean(), rel=1e-5)
    state = fam.init(jr.key(0), 4, 8)
    s = np.asarray(fam.sample(state, jr.key(3), 1000))
    assert s.shape == (1000, 4) and set(np.unique(s)) <= {0.0, 1.0}
    assert fam.output_kind == "states"


def test_bernoulli_rbm_gibbs_sampler_matches_the_exact_distribution():
    """A 3-bit RBM with 2 hidden units: the sampled states' shares equal
    exp(-F(v)) / Z by enumeration of the 8 visible states."""
    from genbench.models.rbm import CategoricalRBM, categorical_free_energy

    rbm = CategoricalRBM(
        w=jnp.array([[2.0, -1.0], [-1.5, 1.0], [1.0, 1.5]]),
        b=jnp.array([-0.5, 0.3, -1.0]),
        c=jnp.array([0.2, -0.4]),
    )
    fam = RBM(bernoulli=True, eval_per_chain=100, eval_burn_in=50, eval_thin=2)
    state = fam.init(jr.key(0), 3, 2)._replace(nets=rbm)
    x = np.asarray(jax.jit(fam.sample, static_argnums=2)(state, jr.key(4), 200_000))
    v = _bits(np.arange(8), 3)
    logp = -np.asarray(categorical_free_energy(rbm, jnp.asarray(v)), float)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    idx = x.astype(int) @ np.array([4, 2, 1])
    q = np.bincount(idx, minlength=8) / len(x)
    assert 0.5 * np.abs(p - q).sum() < 0.01


def test_budget_counts_n_bits_visible_units():
    spec = build_run(compose_cfg("model=rbm", "target=binary_bars_stripes", *FAST))
    h = spec.hidden
    assert spec.encoding.model_dim == 9 and spec.family.bernoulli
    assert spec.n_params == 9 * h + 9 + h  # W, b, c: no visible scale
    for model in ("gan", "vae"):
        other = build_run(compose_cfg(f"model={model}", "target=binary_cardinality"))
        assert other.encoding.model_dim == 12
        assert abs(other.n_params - 1600) <= 0.02 * 1600


def test_rbm_options_for_continuous_data_are_refused_with_bits():
    for option in ("model.init_scheme=spread", "model.sampler=gibbs_langevin"):
        cfg = compose_cfg("model=rbm", "target=binary_bars_stripes", option, *FAST)
        with pytest.raises(ConfigError, match=option.split("=")[0]):
            build_run(cfg)


# --- the CLI, every family --------------------------------------------------------


@pytest.mark.parametrize("model", ["gan", "vae", "rbm"])
def test_cli_trains_every_family_on_bars_and_stripes(model, tmp_path):
    proc = run_cli(
        f"model={model}",
        "target=binary_bars_stripes",
        *FAST,
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "ok" and m["encoding"] == "binary"
    assert m["patterns_total"] == 14 and m["coverage_samples"] == 1000
    for name in ("kl", "precision", "coverage", "tv", "w1"):
        stat = m["metrics"][name]
        assert stat["mean"] is not None and stat["floor"] is not None, name
    assert m["metrics"]["precision"]["floor"] == 1.0
    assert m["metrics"]["coverage"]["floor"] == 1.0
    assert m["metrics"]["kl_compat"]["mean"] is None
    samples = np.load(out / "samples.npz")["samples"]
    assert samples.shape == (2, 2000, 9) and set(np.unique(samples)) <= {0.0, 1.0}
    # precision recomputed from the saved samples
    valid = set(BarsAndStripes("b", n=3).pattern_index().tolist())
    idx = samples.astype(int) @ (2 ** np.arange(8, -1, -1))
    share = [np.mean([i in valid for i in row]) for row in idx]
    np.testing.assert_allclose(m["metrics"]["precision"]["per_seed"], share, atol=1e-6)
    for plot in ("patterns.png", "curves.png"):
        assert (out / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert "precision" in proc.stdout and "coverage" in proc.stdout
    assert "bit vectors" in proc.stdout


def test_cli_refuses_bad_bars_and_stripes_in_one_line(tmp_path):
    fast = [o for o in FAST if "eval_samples" not in o]
    few = ["train.eval_samples=500", "train.snapshot_eval_samples=500"]
    for args, message in (
        (["target.n=5"], "target.n=5"),
        (["bins.n=16"], "bins.n=16"),
        (few, "target.coverage_samples=1000"),  # coverage needs 1000 samples
    ):
        if args is not few:
            args = [
                *args,
                "train.eval_samples=2000",
                "train.snapshot_eval_samples=2000",
            ]
        proc = run_cli(
            "target=binary_bars_stripes",
            *args,
            *fast,
            f"hydra.run.dir={tmp_path / 'run'}",
            cwd=tmp_path,
        )
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "run" / "metrics.json").exists()


def test_every_state_of_a_small_target_is_enumerated_once():
    """`_bits` (the tests' enumeration) lists each of the 2^d states once."""
    d = 4
    states = {tuple(r) for r in _bits(np.arange(2**d), d).astype(int).tolist()}
    assert states == set(itertools.product((0, 1), repeat=d))


def test_a_sweep_over_a_bit_vector_target_reports_precision_and_coverage(tmp_path):
    fast = [o for o in FAST if not o.startswith("train.seeds")]
    proc = run_cli(
        "-m",
        "model=gan,rbm",
        "target=binary_bars_stripes",
        *fast,
        "train.seeds=1",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row in rows:
        assert 0 <= float(row["precision"]) <= 1 and 0 <= float(row["coverage"]) <= 1
        assert float(row["precision_floor"]) == 1.0
    assert "gan" in (sweep / "summary.md").read_text()
    # no grid to draw side by side: each job has its patterns.png instead
    assert not list(sweep.glob("compare_*.png"))
    assert len(list(sweep.glob("*/plots/patterns.png"))) == 2
