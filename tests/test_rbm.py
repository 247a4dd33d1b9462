"""genbench/models/rbm.py: free energies and samplers (Gaussian, softmax and
Bernoulli visible units) against exact enumeration, the CD gradient against
autodiff, the options (`persistent_chains`, `sigma_lr`, `visible`)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench.config import build_run
from genbench.encoding import make_encoding
from genbench.models import RBM
from genbench.models.rbm import CategoricalRBM, GaussianRBM, free_energy, visible_sigma
from genbench.train import train

from .conftest import FAST, compose_cfg, make_target, state_bits


def _small_rbm(d=2, h=4, seed=0):
    r = np.random.default_rng(seed)
    return GaussianRBM(
        w=jnp.asarray(r.normal(0, 0.8, (d, h)), jnp.float32),
        b=jnp.asarray(r.normal(0, 0.5, d), jnp.float32),
        c=jnp.asarray(r.normal(0, 0.5, h), jnp.float32),
        log_sigma=jnp.asarray(np.log(r.uniform(0.5, 1.2, d)), jnp.float32),
    )


def _energy(rbm, v, h, s):
    w, b, c = (np.asarray(a, float) for a in (rbm.w, rbm.b, rbm.c))
    return np.sum((v - b) ** 2 / (2 * s**2)) - c @ h - (v / s**2) @ w @ h


def test_rbm_free_energy_is_log_sum_over_hidden_states():
    rbm = _small_rbm()
    s = np.asarray(visible_sigma(rbm, 1.0), float)
    v = np.array([[0.3, -0.7], [1.1, 0.4]])
    f = np.asarray(free_energy(rbm, jnp.asarray(v, jnp.float32), jnp.asarray(s)))
    for i in range(2):
        terms = [
            -_energy(rbm, v[i], np.array(h), s)
            for h in itertools.product([0, 1], repeat=4)
        ]
        assert np.isclose(f[i], -np.logaddexp.reduce(terms), rtol=1e-5)


def _exact_log_z(rbm, s):
    # Z = sum_h prod_i sqrt(2 pi) s_i exp(((b + W h)_i^2 - b_i^2) / (2 s_i^2)) e^{c.h}
    w, b, c = (np.asarray(a, float) for a in (rbm.w, rbm.b, rbm.c))
    logs = []
    for h in itertools.product([0, 1], repeat=w.shape[1]):
        m = b + w @ np.array(h)
        logs.append(
            c @ np.array(h)
            + np.sum(np.log(np.sqrt(2 * np.pi) * s) + (m**2 - b**2) / (2 * s**2))
        )
    return np.logaddexp.reduce(logs)


def _grid_marginal(rbm, s, grid):
    lp = -np.asarray(
        free_energy(rbm, jnp.asarray(grid[:, None], jnp.float32), s), float
    )
    return lp


def test_rbm_exact_likelihood_normalises():
    # exp(-F(v)) integrates to Z of the enumeration: the log-likelihood is exact.
    rbm = _small_rbm(d=1, h=5, seed=1)
    s = visible_sigma(rbm, 1.0)
    grid = np.linspace(-15, 15, 60001)
    lp = _grid_marginal(rbm, s, grid)
    log_int = np.log(np.trapezoid(np.exp(lp - lp.max()), grid)) + lp.max()
    assert np.isclose(log_int, _exact_log_z(rbm, np.asarray(s, float)), atol=1e-4)


@pytest.mark.parametrize(
    "impl, sampler",
    [("hash", "gibbs"), ("threefry", "gibbs"), ("hash", "gibbs_langevin")],
)
def test_rbm_gibbs_sampler_matches_exact_marginal(impl, sampler):
    rbm = GaussianRBM(  # a clearly bimodal 1D RBM with 3 hidden units
        w=jnp.array([[1.2, -1.0, 0.4]]),
        b=jnp.array([0.0]),
        c=jnp.array([-1.0, -0.8, 0.2]),
        log_sigma=jnp.log(jnp.array([0.5])),
    )
    fam = RBM(
        eval_per_chain=100, eval_burn_in=100, eval_thin=2, rng=impl, sampler=sampler
    )
    state = fam.init(jr.key(0), 1, 3)._replace(nets=rbm)
    x = np.asarray(jax.jit(fam.sample, static_argnums=2)(state, jr.key(5), 200_000))
    edges = np.linspace(-4, 6, 41)
    fine = np.linspace(-4, 6, 40 * 50 + 1)
    mid = (fine[:-1] + fine[1:]) / 2
    s = visible_sigma(rbm, 1.0)
    dens = np.exp(_grid_marginal(rbm, s, mid) - _exact_log_z(rbm, np.asarray(s, float)))
    p = (dens * np.diff(fine)).reshape(40, 50).sum(1)
    q = np.histogram(x[:, 0], edges)[0] / len(x)
    assert p.sum() > 0.999
    assert 0.5 * np.abs(p - q).sum() < 0.01  # total variation


def test_rbm_analytic_cd_gradient_equals_autodiff_of_free_energies():
    from genbench.models.rbm import cd_gradient, hidden_probs

    rbm = _small_rbm(d=2, h=6, seed=4)
    s = visible_sigma(rbm, 1.0)
    pos = jr.normal(jr.key(0), (64, 2))
    neg = 1.5 * jr.normal(jr.key(1), (64, 2)) + 0.3

    def loss(r):
        sig = visible_sigma(r, 1.0)
        return jnp.mean(free_energy(r, pos, sig)) - jnp.mean(free_energy(r, neg, sig))

    auto = jax.grad(loss)(rbm)
    manual = cd_gradient(rbm, pos, hidden_probs(rbm, pos, s), neg, s)
    for a, m in zip(
        jax.tree_util.tree_leaves(auto), jax.tree_util.tree_leaves(manual), strict=True
    ):
        np.testing.assert_allclose(np.asarray(m), np.asarray(a), rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("blocks", [None, (1, 7)])
def test_persistent_chains_are_carried_between_steps(blocks):
    fam = RBM(persistent_chains=32, blocks=blocks)
    dim = 1 if blocks is None else 7
    state = fam.init(jr.key(0), dim, 8)
    assert state.chains.shape == (32, dim)
    batch = jr.normal(jr.key(1), (16, 1))
    if blocks is not None:
        batch = jax.nn.one_hot(jr.randint(jr.key(1), (16,), 0, 7), 7)
    new, logs = jax.jit(fam.step)(state, batch, jr.key(2))
    assert not np.allclose(np.asarray(new.chains), np.asarray(state.chains))
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_rbm_sigma_lr_scales_the_visible_scale_update_only():
    batch, key = jr.normal(jr.key(1), (64, 1)), jr.key(2)
    steps = {}
    for rate in (1.0, 0.1, 0.0):
        fam = RBM(sigma_lr=rate, lr=1e-2, schedule="constant")
        state = fam.init(jr.key(0), 1, 8)
        new, _ = jax.jit(fam.step)(state, batch, key)
        steps[rate] = (new.nets, state.nets)
    moved = {r: float(n.log_sigma[0] - o.log_sigma[0]) for r, (n, o) in steps.items()}
    assert abs(moved[1.0]) > 1e-4 and moved[0.0] == 0.0
    assert np.isclose(moved[0.1], 0.1 * moved[1.0], rtol=1e-3)  # float32 log sigma
    # the weights move the same whatever the visible scale's rate
    np.testing.assert_array_equal(steps[0.1][0].w, steps[1.0][0].w)


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
    v = state_bits(np.arange(8), 3)
    logp = -np.asarray(categorical_free_energy(rbm, jnp.asarray(v)), float)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    idx = x.astype(int) @ np.array([4, 2, 1])
    q = np.bincount(idx, minlength=8) / len(x)
    assert 0.5 * np.abs(p - q).sum() < 0.01
