"""Binned (one-hot) mode: the grid, encode/decode, every model, the softmax RBM."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genbench.config import build_run
from genbench.encoding import AbstractEncoding, Bits, OneHotBins, make_encoding
from genbench.models import GAN, RBM, VAE
from genbench.models.rbm import CategoricalRBM
from genbench.models.vae import vae_loss
from genbench.train import train

from .conftest import (
    BINARY_TARGETS,
    CONF,
    FAST,
    GRID_TARGETS,
    MODELS,
    compose_cfg,
    rotation,
    target_args,
)


def make_target(name):
    return instantiate(compose_cfg(f"target={name}").target, _convert_="all")


@pytest.mark.parametrize("name", ["1d_trimodal", "2d_gmm", "1d_poisson", "1d_beta"])
@pytest.mark.parametrize("n", [2, 7, 20])
def test_every_cell_round_trips(name, n):
    enc = make_encoding(make_target(name), n)
    assert isinstance(enc, OneHotBins) and enc.model_dim == n * enc.dim
    rng = np.random.default_rng(0)
    for e in enc.edges:
        assert np.all(np.diff(e) > 0)
    # Points spread inside every cell of every axis (all cells, both edges' sides).
    u = rng.uniform(0.01, 0.99, size=(50, 1))
    per_axis = [(e[:-1] + u * np.diff(e)).ravel() for e in enc.edges]
    cells = [np.repeat(np.arange(n)[None, :], 50, axis=0).ravel()] * enc.dim
    x = jnp.asarray(np.stack(per_axis, axis=1), jnp.float32)
    onehot = enc.encode(x)
    assert np.all(np.asarray(onehot).reshape(-1, enc.dim, n).sum(-1) == 1)
    np.testing.assert_array_equal(np.asarray(enc.index(x)), np.stack(cells, axis=1))
    for kind in ("states", "logits"):  # decoded: the centre of its own cell
        back = np.asarray(enc.decode(onehot, jr.key(0), kind))
        np.testing.assert_allclose(
            back, enc.centres[np.arange(enc.dim), cells[0][:, None]]
        )


def test_out_of_range_goes_to_edge_cells_and_exact_probs_count_tails():
    target = make_target("2d_gmm")
    enc = make_encoding(target, 7)
    x = np.asarray(target.sample(jr.key(3), 400_000))
    idx = np.asarray(enc.index(jnp.asarray(x)))
    freq = np.zeros((7, 7))
    np.add.at(freq, (idx[:, 0], idx[:, 1]), 1.0 / len(x))
    p = enc.bin_probs(target)
    assert np.isclose(p.sum(), 1.0, atol=1e-9)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(x)) + 1e-4)


def test_poisson_bins_align_to_integers():
    target = make_target("1d_poisson")
    (unit,) = target.hist_edges()
    (e20,) = target.bin_edges(20)
    np.testing.assert_allclose(e20[: len(unit)], unit)  # one integer per cell
    (e7,) = target.bin_edges(7)
    assert np.allclose((e7 + 0.5) % 1, 0) and np.all(np.diff(e7) == 2)


def test_decode_modes():
    enc = OneHotBins((np.linspace(0.0, 4.0, 5),), "soft")
    logits = jnp.log(jnp.array([[0.1, 0.2, 0.3, 0.4]]))
    centres = np.array([0.5, 1.5, 2.5, 3.5])
    assert np.isclose(
        float(enc.decode(logits, jr.key(0))[0, 0]),
        0.1 * 0.5 + 0.2 * 1.5 + 0.3 * 2.5 + 0.4 * 3.5,
        rtol=1e-6,
    )
    hard = OneHotBins(enc.edges, "hard")
    assert float(hard.decode(logits, jr.key(0))[0, 0]) == 3.5
    sample = OneHotBins(enc.edges, "sample")
    draws = np.asarray(sample.decode(jnp.repeat(logits, 100_000, 0), jr.key(1)))[:, 0]
    freq = np.array([np.mean(draws == c) for c in centres])
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=5e-3)
    states = jnp.array(
        [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
    )
    out = np.asarray(hard.decode(states, jr.key(0), "states"))[:, 0]
    assert out[0] == 1.5 and np.isnan(out[1]) and np.isnan(out[2])  # no valid category


def test_each_encoding_says_what_it_is_so_no_code_asks_its_class():
    # What trains, scores and draws a run asks the encoding: bit vectors
    # (Bernoulli units, patterns), samples on its own cells, the decode label.
    target = make_target("1d_trimodal")
    plain, binned = make_encoding(target, 0), make_encoding(target, 7, "soft")
    bits = make_encoding(make_target("binary_cardinality"), 0)
    assert not plain.bits and not plain.binned
    assert not binned.bits and binned.binned
    assert isinstance(bits, Bits) and bits.bits and not bits.binned
    assert plain.decode_label("values") is None and bits.decode_label("states") is None
    assert binned.decode_label("logits") == "soft"
    assert binned.decode_label("states") == "states (the model samples one-hot units)"
    assert not target.evaluator(plain).binned and target.evaluator(binned).binned
    assert target.evaluator(None).edges[0].tolist() == target.hist_edges()[0].tolist()

    class Incomplete(AbstractEncoding):  # a new encoding must answer them
        mode, model_dim = "other", 1

        def encode(self, x):
            return x

        def decode(self, y, key, kind="values"):
            return y

    with pytest.raises(TypeError, match="bits"):
        Incomplete()


@pytest.mark.parametrize(
    "target, n, model", rotation(["1d_trimodal", "2d_gmm"], [2, 7, 20], MODELS)
)
def test_every_model_trains_binned_to_finite_metrics(model, target, n):
    cfg = compose_cfg(
        f"model={model}", f"target={target}", f"bins.n={n}", *FAST, "train.steps=60"
    )
    spec = build_run(cfg)
    assert spec.family.blocks == (spec.target.dim, n)
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    for name in ("kl", "w1"):
        assert np.all(np.isfinite(result.final[name])), name
    assert result.snapshot_hists.shape[2:] == (n,) * spec.target.dim


def _every_target_binned():
    """Every target x family; by default only the first target of each class,
    with one family in turn (the others run with `-m slow`)."""
    seen = set()
    for i, target in enumerate(GRID_TARGETS):  # bit vectors are never binned
        cls = OmegaConf.load(CONF / "target" / f"{target}.yaml")["_target_"]
        first = cls not in seen
        seen.add(cls)
        for j, model in enumerate(MODELS):
            slow = not first or (i + j) % len(MODELS) != 0
            marks = [pytest.mark.slow] if slow else []
            yield pytest.param(target, model, marks=marks, id=f"{model}-{target}")


@pytest.mark.parametrize("target, model", list(_every_target_binned()))
def test_every_target_trains_binned_to_finite_metrics(target, model):
    cfg = compose_cfg(
        f"model={model}", *target_args(target), "bins.n=16", *FAST, "train.steps=60"
    )
    spec = build_run(cfg)
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    for name in ("kl", "w1", "lost"):
        assert np.all(np.isfinite(result.final[name])), name
    assert result.snapshot_hists.shape[2:] == (16,) * spec.target.dim
    # the encoding's exact cells (tails in the edge cells) sum to 1
    assert abs(np.sum(spec.encoding.bin_probs(spec.target)) - 1) < 1e-6


@pytest.mark.parametrize("target", BINARY_TARGETS)
def test_bit_vector_targets_refuse_bins_in_one_line(target):
    cfg = compose_cfg(*target_args(target), "bins.n=16", *FAST)
    with pytest.raises(ValueError) as err:
        build_run(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"bins.n=16 is not allowed with target '{target}'")
    assert "allowed: 0" in message


def test_budget_counts_the_one_hot_sizes():
    spec = build_run(compose_cfg("model=rbm", "target=2d_gmm", "bins.n=20", *FAST))
    h = spec.hidden
    assert spec.n_params == 40 * h + 40 + h  # W (2n x H), visible and hidden biases


def _exact_softmax_marginal(rbm):
    # One block of n units: p(v = e_k) ∝ exp(b_k) prod_j (1 + exp(c_j + W_kj)).
    w, b, c = (np.asarray(a, float) for a in (rbm.w, rbm.b, rbm.c))
    logp = b + np.sum(np.logaddexp(0, c[None, :] + w), axis=1)
    return np.exp(logp - np.logaddexp.reduce(logp))


def test_softmax_rbm_gibbs_sampler_matches_exact_marginal():
    target = make_target("1d_trimodal")
    enc = make_encoding(target, 7)
    fam = RBM(blocks=(1, 7), n_steps=300, eval_burn_in=50, eval_thin=1)
    state = fam.init(jr.key(0), 7, 4)
    step = jax.jit(fam.step)
    for i in range(300):
        batch = enc.encode(target.sample(jr.fold_in(jr.key(1), i), 128))
        state, _ = step(state, batch, jr.fold_in(jr.key(2), i))
    p = _exact_softmax_marginal(state.nets)
    assert np.max(p) < 0.9  # trained to something non-trivial
    v = np.asarray(jax.jit(fam.sample, static_argnums=2)(state, jr.key(3), 200_000))
    assert np.all(v.sum(1) == 1)
    q = v.mean(0)
    # 5 standard errors of 200k draws, widened 3x for the chains' autocorrelation.
    assert np.all(np.abs(q - p) < 15 * np.sqrt(p * (1 - p) / 200_000) + 1e-4)


def test_exact_softmax_marginal_by_enumeration_of_hidden_states():
    # The closed form used above, against a brute-force sum over all (v, h).
    r = np.random.default_rng(0)
    rbm = CategoricalRBM(
        w=jnp.asarray(r.normal(size=(5, 3))),
        b=jnp.asarray(r.normal(size=5)),
        c=jnp.asarray(r.normal(size=3)),
    )
    w, b, c = (np.asarray(a, float) for a in (rbm.w, rbm.b, rbm.c))
    joint = np.array(
        [
            [
                np.exp(b[k] + c @ np.array(h) + w[k] @ np.array(h))
                for h in itertools.product([0, 1], repeat=3)
            ]
            for k in range(5)
        ]
    )
    np.testing.assert_allclose(_exact_softmax_marginal(rbm), joint.sum(1) / joint.sum())


def test_bernoulli_visible_rbm_counts_invalid_samples():
    spec = build_run(
        compose_cfg(
            "model=rbm", "bins.n=7", "model.visible=bernoulli", *FAST, "train.steps=30"
        )
    )
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    inv = result.final["invalid"]
    assert np.all(inv > 0) and np.all(inv < 1)  # some samples have 0 or 2+ units on
    assert np.allclose(result.final["lost"], inv, atol=1e-6)  # lost, never fixed up


def test_vae_categorical_reconstruction_by_hand():
    fam = VAE(blocks=(2, 3))
    nets = fam.build(jr.key(0), 6, 4)
    x = jnp.array([[1.0, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 0]])
    eps = jnp.zeros((2, 2))
    _, (recon, _) = vae_loss(nets, x, eps, 0.1, (2, 3))
    mu = nets.encoder(x)[:, :2]
    logits = np.asarray(nets.decoder(mu)).reshape(2, 2, 3)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.sum(np.asarray(x).reshape(2, 2, 3) * logp, axis=(1, 2))
    assert np.isclose(float(recon), ce.mean(), rtol=1e-5)


def test_gan_fakes_are_one_hot_and_carry_gradients():
    fam = GAN(blocks=(2, 5))
    nets = fam.build(jr.key(0), 10, 8)
    z = jr.normal(jr.key(1), (64, 16))
    fake = np.asarray(fam._fake(nets.generator, z, jr.key(2), straight_through=False))
    assert set(np.unique(fake)) == {0.0, 1.0}
    assert np.all(fake.reshape(64, 2, 5).sum(-1) == 1)

    def loss(g):
        return jnp.sum(fam._fake(g, z, jr.key(2)) * jnp.arange(10.0))

    grads = jax.grad(loss)(nets.generator)
    assert float(jnp.abs(grads.out.weight).sum()) > 0  # straight-through gradient


def test_too_few_bins_for_a_target_gets_a_clear_note():
    assert "cannot separate" in make_target("1d_trimodal").binning_note(2)
    assert make_target("1d_trimodal").binning_note(7) is None
    note = make_target("1d_poisson").binning_note(7)
    assert "each cell holds 2 integers" in note and "bins.n >= 14" in note
    assert make_target("1d_poisson").binning_note(20) is None
