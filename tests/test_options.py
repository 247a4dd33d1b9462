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
