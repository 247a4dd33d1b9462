"""Model losses and the RBM sampler against hand computations and exact enumeration."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench import rng
from genbench.models import GAN, RBM, VAE
from genbench.models.gan import discriminator_loss, generator_loss
from genbench.models.rbm import GaussianRBM, free_energy, visible_sigma
from genbench.models.vae import gaussian_kl, vae_loss
from genbench.train import METRICS


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


@pytest.mark.parametrize("family", [GAN(), VAE(), RBM()])
def test_one_step_is_finite_and_changes_parameters(family):
    state = family.init(jr.key(0), 2, 8)
    batch = jr.normal(jr.key(1), (32, 2))
    new, logs = jax.jit(family.step)(state, batch, jr.key(2))
    assert all(np.isfinite(float(v)) for v in logs.values())
    # history rows hold the logs and the metrics side by side: no shared names
    assert not set(logs) & set(METRICS), set(logs) & set(METRICS)
    before = jax.tree_util.tree_leaves(family.params(state))
    after = jax.tree_util.tree_leaves(family.params(new))
    assert any(not np.allclose(a, b) for a, b in zip(after, before, strict=True))
    x = family.sample(new, jr.key(3), 50)
    assert x.shape == (50, 2) and np.all(np.isfinite(np.asarray(x)))


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


def _families_of_conf() -> list:
    """One object per family of conf/model (presets left out), built from its
    composed config's values."""
    from hydra.utils import instantiate

    from .conftest import MODELS, compose_cfg

    return [instantiate(compose_cfg(f"model={m}").model) for m in MODELS]


@pytest.mark.parametrize("family", _families_of_conf(), ids=lambda f: f.name)
def test_step_flops_are_finite_and_grow_linearly_with_batch_and_width(family):
    # XLA's count of one step (the benchmark's MFLOP/step column)
    base = family.step_flops(1, 64, 64)
    assert np.isfinite(base) and base >= 2 * 64 * 64  # at least one layer's matmul
    # four times the batch or the width: close to four times the work (the
    # parts that depend on only one of them make it a little less)
    for ratio in (
        family.step_flops(1, 64, 256) / base,
        family.step_flops(1, 256, 64) / base,
    ):
        assert 3.0 < ratio <= 4.0 * 1.01, ratio


def test_a_family_declares_its_own_figures(tmp_path):
    from genbench.encoding import make_encoding
    from genbench.targets import Mixture1D

    encoding = make_encoding(Mixture1D("t", [-1.0, 1.0], [0.5, 0.5]), 0, "hard")
    nets = VAE().build(jr.key(0), 1, 8)
    draws = VAE().figures(nets, encoding)
    assert list(draws) == ["latent_manifold.png"]
    meta = dict(model="vae", target="t", budget=1, hidden=8, n_params=1, seeds=[0])
    draws["latent_manifold.png"](tmp_path / "m.png", meta)
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    assert VAE(latent_dim=3).figures(nets, encoding) == {}
    assert GAN().figures(None, encoding) == {} and RBM().figures(None, encoding) == {}


def test_families_are_abstract_or_final():
    """Equinox's rule: the abstract class has no fields, its concrete methods
    are not overridden, and a family declares the fields genbench sets."""
    import dataclasses
    import inspect

    from genbench.models.base import SUPPLIED_FIELDS, AbstractFamily

    assert dataclasses.fields(AbstractFamily) == ()
    concrete = {
        name
        for name, member in vars(AbstractFamily).items()
        if (inspect.isfunction(member) or isinstance(member, property))
        and not getattr(member, "__isabstractmethod__", False)
        and not name.startswith("__")
    }
    assert {"output_kind", "step_flops", "params"} <= concrete
    for family in _families_of_conf():
        overridden = {n for n in concrete if n in vars(type(family))}
        assert not overridden, f"{family.name} overrides {overridden}"
        names = {f.name for f in dataclasses.fields(family)}
        assert set(SUPPLIED_FIELDS) <= names

    # a family that leaves out a field genbench sets is refused when built
    fields = [f for f in dataclasses.fields(GAN) if f.name != "n_steps"]
    Lacking = dataclasses.make_dataclass(
        "Lacking",
        [(f.name, f.type, dataclasses.field(default=f.default)) for f in fields],
        bases=(AbstractFamily,),
        frozen=True,
        namespace={
            m: getattr(GAN, m) for m in ("build", "init", "step", "sample", "figures")
        }
        | {"sampler_part": GAN.sampler_part},
    )
    with pytest.raises(TypeError, match="lacks the field.*n_steps"):
        Lacking()
