"""genbench/rng.py: the counter-based (hash) generator against its distributions, and
`model.rng` selecting the generator of every family's steps and samplers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench import rng
from genbench.models import GAN, RBM, VAE


def test_hash_uniforms_are_uniform_and_uncorrelated():
    u = np.asarray(rng.uniform(jr.key(0), (400_000,)), float)
    assert abs(u.mean() - 0.5) < 2e-3 and abs(u.var() - 1 / 12) < 1e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5e-3
    v = np.asarray(rng.uniform(jr.key(1), (400_000,)), float)
    assert abs(np.corrcoef(u, v)[0, 1]) < 5e-3  # streams of two keys are unrelated
    b = np.asarray(rng.bernoulli(jr.key(2), jnp.full((100_000,), 0.3)))
    assert abs(b.mean() - 0.3) < 5e-3
    with pytest.raises(ValueError, match="model.rng"):
        rng.uniform(jr.key(0), (3,), "nope")


@pytest.mark.parametrize("impl", ["hash", "threefry"])
def test_hash_normals_and_gumbels_follow_their_distributions(impl):
    from scipy import stats

    z = np.asarray(rng.normal(jr.key(3), (200_000,), impl), float)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert np.isfinite(z).all() and np.abs(z).max() < 6.5
    # the extreme draws stay finite (a closed interval would give +-inf)
    ends = rng.open_unit(jnp.array([0, (1 << 24) - 1], jnp.uint32))
    assert 0.0 < float(ends[0]) and float(ends[1]) < 1.0
    assert np.isfinite(np.asarray(jax.lax.erf_inv(2 * ends - 1))).all()
    assert np.isfinite(np.asarray(-jnp.log(-jnp.log(ends)))).all()
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5e-3
    g = np.asarray(rng.gumbel(jr.key(4), (200_000,), impl), float)
    assert stats.kstest(g, "gumbel_r").pvalue > 1e-3
    assert np.isfinite(g).all()
    # the Gumbel-max trick over 5 categories reproduces their probabilities
    p = np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    draws = rng.gumbel(jr.key(5), (100_000, 5), impl) + jnp.log(jnp.asarray(p))
    freq = np.bincount(np.asarray(jnp.argmax(draws, axis=1)), minlength=5) / 100_000
    np.testing.assert_allclose(freq, p, atol=5e-3)


@pytest.mark.parametrize("cls", [GAN, VAE, RBM])
def test_model_rng_selects_the_generator_of_steps_and_samples(cls):
    # The same keys give other draws with the other generator: the option reaches
    # every step and sampler (and both train to finite values).
    runs = {}
    for impl in ("hash", "threefry"):
        family = cls(rng=impl)
        state = family.init(jr.key(0), 1, 8)
        new, logs = jax.jit(family.step)(
            state, jr.normal(jr.key(1), (32, 1)), jr.key(2)
        )
        x = np.asarray(family.sample(new, jr.key(3), 50))
        assert (
            all(np.isfinite(float(v)) for v in logs.values()) and np.isfinite(x).all()
        )
        runs[impl] = (jax.tree_util.tree_leaves(family.params(new)), x)
    (p_hash, x_hash), (p_fry, x_fry) = runs["hash"], runs["threefry"]
    assert any(not np.allclose(a, b) for a, b in zip(p_hash, p_fry, strict=True))
    assert not np.allclose(x_hash, x_fry)
    with pytest.raises(ValueError, match="model.rng"):
        cls(rng="nope").sample(cls().init(jr.key(0), 1, 8), jr.key(3), 5)
