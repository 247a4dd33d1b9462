"""genbench/models/gan.py: the losses by hand, the options (`lr_d`, `lr_g`, `r1`,
`ema`), one-hot and Bernoulli fakes with their straight-through gradients."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from genbench.models import GAN
from genbench.models.gan import discriminator_loss, generator_loss


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_gan_losses_by_hand_with_label_smoothing():
    real = np.array([2.0, -0.5, 0.3])
    fake = np.array([-1.0, 0.4])
    d = np.mean(0.9 * np.log(_sigmoid(real)) + 0.1 * np.log(1 - _sigmoid(real)))
    d += np.mean(np.log(1 - _sigmoid(fake)))
    got = discriminator_loss(jnp.asarray(real), jnp.asarray(fake), 0.9)
    assert np.isclose(float(got), -d, rtol=1e-6)
    g = -np.mean(np.log(_sigmoid(fake)))
    assert np.isclose(float(generator_loss(jnp.asarray(fake))), g, rtol=1e-6)


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
