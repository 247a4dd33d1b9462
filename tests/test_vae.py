"""genbench/models/vae.py: the loss by hand (Gaussian, categorical and Bernoulli
decoders), the closed-form KL, `binned_loss`."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench.config import build_run
from genbench.models import VAE
from genbench.models.vae import gaussian_kl, vae_loss
from genbench.train import train

from .conftest import FAST, compose_cfg


def _leaky(x, slope=0.2):
    return np.where(x > 0, x, slope * x)


def _mlp(net, x):
    h = _leaky(x @ np.asarray(net.hidden.weight).T + np.asarray(net.hidden.bias))
    return h @ np.asarray(net.out.weight).T + np.asarray(net.out.bias)


def test_vae_loss_by_hand():
    fam = VAE(latent_dim=2, beta=0.1)
    nets = fam.build(jr.key(3), 2, 5)
    x = np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.0]])
    eps = np.array([[0.1, -0.4], [1.2, 0.3], [-0.7, 0.9]])
    stats = _mlp(nets.encoder, x)
    mu, logvar = stats[:, :2], stats[:, 2:]
    z = mu + np.exp(0.5 * logvar) * eps
    recon = np.sum((x - _mlp(nets.decoder, z)) ** 2, axis=1)
    kl = 0.5 * np.sum(np.exp(logvar) + mu**2 - 1 - logvar, axis=1)
    loss, (r, k) = vae_loss(nets, jnp.asarray(x), jnp.asarray(eps), 0.1)
    assert np.isclose(float(loss), np.mean(recon + 0.1 * kl), rtol=1e-5)
    assert np.isclose(float(r), recon.mean(), rtol=1e-5)
    assert np.isclose(float(k), kl.mean(), rtol=1e-5)


def test_gaussian_kl_matches_closed_form_of_two_gaussians():
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2)/2 - 1/2, per dimension.
    m = np.array([[0.3, -1.2]])
    s = np.array([[0.5, 1.7]])
    ref = np.sum(np.log(1 / s) + (s**2 + m**2) / 2 - 0.5)
    got = gaussian_kl(jnp.asarray(m), jnp.asarray(2 * np.log(s)))
    assert np.isclose(float(got[0]), ref, rtol=1e-6)


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
