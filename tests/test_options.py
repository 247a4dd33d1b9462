"""Options not covered elsewhere do what their names say."""

from __future__ import annotations

import dataclasses

import jax
import jax.random as jr
import numpy as np
import pytest

from genbench.config import build_run
from genbench.models import GAN, RBM
from genbench.train import train

from .conftest import FAST, compose_cfg


def _changed(before, after) -> float:
    leaves = zip(
        jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after), strict=True
    )
    return max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in leaves)


def test_gan_lr_d_and_lr_g_set_each_network_alone():
    fam = GAN(lr=1e-2, lr_d=1e-12, schedule="constant")
    state = fam.init(jr.key(0), 1, 8)
    new, _ = jax.jit(fam.step)(state, jr.normal(jr.key(1), (64, 1)), jr.key(2))
    assert _changed(state.nets.discriminator, new.nets.discriminator) < 1e-9
    assert _changed(state.nets.generator, new.nets.generator) > 1e-4
    fam = dataclasses.replace(fam, lr_d=None, lr_g=1e-12)
    new, _ = jax.jit(fam.step)(state, jr.normal(jr.key(1), (64, 1)), jr.key(2))
    assert _changed(state.nets.generator, new.nets.generator) < 1e-9
    assert _changed(state.nets.discriminator, new.nets.discriminator) > 1e-4


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


def test_hist_bins_sets_the_scoring_grid():
    spec = build_run(compose_cfg("model=vae", *FAST, "train.hist_bins=20"))
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    assert result.snapshot_hists.shape[2:] == (20,)


def test_vae_binned_mse_loss_option():
    mse = build_run(
        compose_cfg("model=vae", "bins.n=7", "model.binned_loss=mse", *FAST)
    )
    result = train(mse.family, mse.target, mse.encoding, mse.settings, mse.hidden)
    assert np.all(np.isfinite(result.final["kl"]))
    # The reconstruction logged differs from the categorical loss on the same run.
    cat = build_run(compose_cfg("model=vae", "bins.n=7", *FAST))
    other = train(cat.family, cat.target, cat.encoding, cat.settings, cat.hidden)
    assert result.history[0]["recon"] != other.history[0]["recon"]


def test_gan_r1_penalty_is_the_squared_input_gradient_of_the_logit():
    from genbench.models.gan import r1_penalty

    nets = GAN().build(jr.key(0), 2, 6)
    disc = nets.discriminator
    x = np.asarray(jr.normal(jr.key(1), (5, 2)), float)
    # central differences of the logit, per row and input axis
    h = 1e-3
    grads = np.zeros_like(x)
    for i in range(2):
        step = np.zeros(2)
        step[i] = h
        up = np.asarray(disc(jax.numpy.asarray(x + step)))[:, 0]
        down = np.asarray(disc(jax.numpy.asarray(x - step)))[:, 0]
        grads[:, i] = (up - down) / (2 * h)
    expected = np.mean(np.sum(grads**2, axis=1))
    got = float(r1_penalty(disc, jax.numpy.asarray(x)))
    assert np.isclose(got, expected, rtol=1e-3)
    # the option reaches the discriminator's update (and only it)
    batch, key = jr.normal(jr.key(2), (64, 2)), jr.key(3)
    state = GAN().init(jr.key(0), 2, 6)
    plain, _ = jax.jit(GAN().step)(state, batch, key)
    pen, _ = jax.jit(GAN(r1=10.0).step)(state, batch, key)
    assert _changed(plain.nets.discriminator, pen.nets.discriminator) > 1e-6


def test_gan_ema_averages_the_generator_and_draws_the_samples():
    fam = GAN(ema=0.9, lr=1e-2, schedule="constant")
    state = fam.init(jr.key(0), 1, 8)
    assert _changed(state.nets.generator, state.nets.generator_ema) == 0.0
    step = jax.jit(fam.step)
    new, _ = step(state, jr.normal(jr.key(1), (64, 1)), jr.key(2))
    # g_ema = 0.9 g_ema + 0.1 g after the step
    for a, old, g in zip(
        jax.tree_util.tree_leaves(new.nets.generator_ema),
        jax.tree_util.tree_leaves(state.nets.generator_ema),
        jax.tree_util.tree_leaves(new.nets.generator),
        strict=True,
    ):
        np.testing.assert_allclose(a, 0.9 * old + 0.1 * g, rtol=1e-5, atol=1e-7)
    # samples come from the average: the same keys give the average's output
    from genbench.models.gan import GANNets

    def sampled_by(gen):
        nets = GANNets(gen, new.nets.discriminator)
        return np.asarray(fam.sample(new._replace(nets=nets), jr.key(3), 20))

    x = np.asarray(fam.sample(new, jr.key(3), 20))
    np.testing.assert_allclose(x, sampled_by(new.nets.generator_ema), rtol=1e-6)
    assert not np.allclose(x, sampled_by(new.nets.generator))
    # the average is not a trained parameter: the budget does not count it
    from genbench.budget import count_params

    assert count_params(fam, 1, 8) == count_params(GAN(), 1, 8)


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
