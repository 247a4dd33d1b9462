"""Gaussian-Bernoulli RBM trained by contrastive divergence (CD-k or persistent CD).

Energy (Cho et al., 2011 parameterisation), with one visible scale per axis:

    E(v, h) = sum_i (v_i - b_i)^2 / (2 s_i^2) - c.h - sum_ij (v_i / s_i^2) W_ij h_j

so that p(h_j = 1 | v) = sigmoid(c_j + sum_i v_i W_ij / s_i^2),
p(v | h) = N(b + W h, s^2), and the free energy is

    F(v) = sum_i (v_i - b_i)^2 / (2 s_i^2)
           - sum_j softplus(c_j + sum_i v_i W_ij / s_i^2).

The same `s` is used in the free energy, in training chains and in evaluation
chains. It is learned (as `log_sigma`, a trained parameter counted in the budget)
when `learn_sigma` is true, and fixed at `sigma` otherwise.

In binned mode the visible layer is one block of units per data axis
(`CategoricalRBM`): E(v, h) = -b.v - c.h - v^T W h, with softmax visibles (exactly
one unit on per block; `p(v_block | h) = softmax(b + W h)_block`, the default) or
independent Bernoulli visibles (`visible="bernoulli"`); F(v) = -b.v - sum_j
softplus(c_j + (v W)_j) either way.

Bit-vector data (`bernoulli`): the same energy with one Bernoulli visible unit
per bit, the Bernoulli-Bernoulli RBM (Hinton 2002), trained and sampled as the
binned RBM with `visible="bernoulli"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .. import rng
from ..errors import ConfigError, one_of, positive, require
from .base import AbstractFamily, check_optimizer, make_optimizer

# Allowed values of the RBM's string options (checked in RBM.__check_init__).
INIT_SCHEMES = ("normal", "spread")
CD_INITS = ("data", "noise")
SAMPLERS = ("gibbs", "gibbs_langevin")
VISIBLE = ("softmax", "bernoulli")

__all__ = [
    "RBM",
    "GaussianRBM",
    "RBMState",
    "cd_gradient",
    "energy",
    "gibbs_langevin_step",
    "langevin_move",
    "free_energy",
    "free_energy_grad",
    "gibbs_step",
    "hidden_probs",
]

LOG_SIGMA_MIN, LOG_SIGMA_MAX = -5.0, 3.0


class GaussianRBM(eqx.Module):
    w: Float[Array, "d h"]
    b: Float[Array, " d"]
    c: Float[Array, " h"]
    log_sigma: Float[Array, " d"] | None  # None: sigma fixed by the family


class CategoricalRBM(eqx.Module):
    w: Float[Array, "d h"]
    b: Float[Array, " d"]
    c: Float[Array, " h"]


def categorical_free_energy(rbm: CategoricalRBM, v: Float[Array, "n d"]) -> Array:
    """F(v) = -b.v - sum_j softplus(c_j + (v W)_j)."""
    return -(v @ rbm.b) - jnp.sum(jax.nn.softplus(rbm.c + v @ rbm.w), axis=-1)


def _visible_states(rbm, h, key, blocks, visible, rng_impl):
    logits = rbm.b + h @ rbm.w.T
    if visible == "bernoulli":
        return rng.bernoulli(key, jax.nn.sigmoid(logits), rng_impl)
    n_blocks, units = blocks
    probs = jax.nn.softmax(logits.reshape(-1, n_blocks, units), axis=-1)
    u = rng.uniform(jr.fold_in(key, 1), probs.shape[:-1] + (1,), rng_impl)
    idx = jnp.minimum(jnp.sum(jnp.cumsum(probs, axis=-1) < u, axis=-1), units - 1)
    return jax.nn.one_hot(idx, units, dtype=h.dtype).reshape(logits.shape)


def categorical_gibbs_step(rbm, v, key, blocks, visible="softmax", rng_impl="hash"):
    """One block-Gibbs sweep of the binned RBM: v -> h -> v'."""
    kh, kv = jr.split(key)
    h = rng.bernoulli(kh, jax.nn.sigmoid(rbm.c + v @ rbm.w), rng_impl)
    return _visible_states(rbm, h, kv, blocks, visible, rng_impl)


def categorical_cd_gradient(rbm, pos, p_pos, neg) -> CategoricalRBM:
    """E_data[dF] - E_model[dF] with dF/dW = -v^T p, dF/db = -v, dF/dc = -p."""
    p_neg = jax.nn.sigmoid(rbm.c + neg @ rbm.w)
    n, m = pos.shape[0], neg.shape[0]
    return CategoricalRBM(
        w=-(pos.T @ p_pos) / n + (neg.T @ p_neg) / m,
        b=-jnp.mean(pos, axis=0) + jnp.mean(neg, axis=0),
        c=-jnp.mean(p_pos, axis=0) + jnp.mean(p_neg, axis=0),
    )


class RBMState(NamedTuple):
    nets: GaussianRBM
    opt: optax.OptState
    chains: Float[Array, "m d"]  # persistent chains (shape (0, d) for plain CD)


def visible_sigma(rbm: GaussianRBM, fixed: float) -> Float[Array, " d"]:
    if rbm.log_sigma is None:
        return jnp.full(rbm.b.shape, fixed)
    return jnp.exp(jnp.clip(rbm.log_sigma, LOG_SIGMA_MIN, LOG_SIGMA_MAX))


def hidden_probs(rbm: GaussianRBM, v: Float[Array, "n d"], sigma) -> Array:
    return jax.nn.sigmoid(rbm.c + (v / sigma**2) @ rbm.w)


def free_energy(rbm: GaussianRBM, v: Float[Array, "n d"], sigma) -> Float[Array, " n"]:
    """F(v) with p(v) = exp(-F(v)) / Z; see the module docstring."""
    quad = jnp.sum((v - rbm.b) ** 2 / (2 * sigma**2), axis=-1)
    return quad - jnp.sum(jax.nn.softplus(rbm.c + (v / sigma**2) @ rbm.w), axis=-1)


def _visible_sample(mean, sigma, key, rng_impl: str = "hash"):
    """v ~ N(mean, sigma^2), mean = b + W h."""
    return mean + sigma * rng.normal(jr.fold_in(key, 1), mean.shape, rng_impl)


def _visible_step(rbm, h, sigma, key, rng_impl: str = "hash"):
    return _visible_sample(rbm.b + h @ rbm.w.T, sigma, key, rng_impl)


def gibbs_step(
    rbm: GaussianRBM,
    v: Float[Array, "n d"],
    sigma,
    key: PRNGKeyArray,
    rng_impl: str = "hash",
) -> Float[Array, "n d"]:
    """One block-Gibbs sweep v -> h ~ p(h|v) -> v' ~ p(v|h)."""
    h = rng.bernoulli(key, hidden_probs(rbm, v, sigma), rng_impl)
    return _visible_step(rbm, h, sigma, key, rng_impl)


def free_energy_grad(
    rbm: GaussianRBM, v: Float[Array, "n d"], p: Float[Array, "n h"], sigma
) -> GaussianRBM:
    """Batch mean of dF/dparams at `v`, given `p = p(h=1|v)` (analytic, no autodiff).

    With a = c + (v/s^2) W:  dF/db = -(v-b)/s^2,  dF/dc = -p,  dF/dW = -(v/s^2)^T p,
    dF/dlog s = -(v-b)^2/s^2 + 2 v (W p)/s^2  (zero where log s is clipped).
    The batch mean of the last term, (2/n) sum_i v_i (W p_i) / s^2, is
    (2/n) sum_j W_j (v/s^2)^T p_j: it reuses dF/dW's product instead of a pass
    over the (batch x hidden) probabilities of its own.
    """
    n = v.shape[0]
    s2 = sigma**2
    vs = v / s2
    vtp = vs.T @ p
    gw = -vtp / n
    gb = -jnp.mean((v - rbm.b) / s2, axis=0)
    # The batch sum of p as a product too (ones^T p): XLA hands a plain sum
    # over the batch axis to a reduction slower than the product above.
    # `vs * 0 + 1` (1 where vs is finite) keeps the seed axis under vmap, so
    # both products take the same form; a constant vector makes XLA transpose
    # p first.
    ones = vs[:, :1] * 0 + 1
    gc = -(ones.T @ p)[0] / n
    if rbm.log_sigma is None:
        gs = None
    else:
        inside = (rbm.log_sigma > LOG_SIGMA_MIN) & (rbm.log_sigma < LOG_SIGMA_MAX)
        g = -jnp.mean((v - rbm.b) ** 2, axis=0) / s2 + 2 * jnp.sum(rbm.w * vtp, 1) / n
        gs = jnp.where(inside, g, 0.0)
    return GaussianRBM(w=gw, b=gb, c=gc, log_sigma=gs)


def cd_gradient(rbm, pos, p_pos, neg, sigma) -> GaussianRBM:
    """Contrastive-divergence gradient: E_data[dF] - E_model[dF], model = `neg`."""
    g_pos = free_energy_grad(rbm, pos, p_pos, sigma)
    g_neg = free_energy_grad(rbm, neg, hidden_probs(rbm, neg, sigma), sigma)
    return jax.tree_util.tree_map(jnp.subtract, g_pos, g_neg)


def langevin_move(n_steps: int, eta: float) -> tuple[float, float]:
    """`(B, S)` of `n_steps` Langevin steps on v given h, with step sizes
    `eta_t = eta * sigma^2 * (1 + cos(pi t / n_steps)) / 2` (the annealed schedule of
    Liao et al. 2022): the energy is quadratic in v, so the steps compose into one
    Gaussian move `v' = m + B (v - m) + S sigma xi`, m = b + W h, xi ~ N(0, 1)."""
    rates = eta * (1 + np.cos(np.pi * np.arange(n_steps) / n_steps)) / 2
    b, s2 = 1.0, 0.0
    for r in rates:  # v_t - m = (1 - r)(v_{t-1} - m) + sqrt(2 r) sigma xi_t
        b, s2 = b * (1 - r), s2 * (1 - r) ** 2 + 2 * r
    return float(b), float(np.sqrt(s2))


def energy(rbm: GaussianRBM, v, h, sigma) -> Float[Array, " n"]:
    """E(v, h) of the module docstring, per row."""
    quad = jnp.sum((v - rbm.b) ** 2 / (2 * sigma**2), axis=-1)
    return quad - h @ rbm.c - jnp.sum((v / sigma**2) * (h @ rbm.w.T), axis=-1)


def gibbs_langevin_step(rbm, v, a, sigma, key, move, rng_impl: str = "hash"):
    """One Metropolis-adjusted Gibbs-Langevin sweep (Liao et al. 2022, "Gaussian-
    Bernoulli RBMs Without Tears", Alg. 2): h ~ p(h | v), a Langevin move of v given
    h (`langevin_move`), h' ~ p(h | v'), then accept (v', h') with the
    Metropolis-Hastings ratio of the joint move. `a` = c + (v / s^2) W is carried
    (the hidden activations of the current v), so a sweep costs one hidden pass."""
    b_move, s_move = move
    kh, kv, kh2, ku = jr.split(key, 4)
    h = rng.bernoulli(kh, jax.nn.sigmoid(a), rng_impl)
    m = rbm.b + h @ rbm.w.T
    v_new = m + b_move * (v - m) + s_move * sigma * rng.normal(kv, v.shape, rng_impl)
    a_new = rbm.c + (v_new / sigma**2) @ rbm.w
    h_new = rng.bernoulli(kh2, jax.nn.sigmoid(a_new), rng_impl)
    m_new = rbm.b + h_new @ rbm.w.T

    def log_q(x, y, mean):  # log density of moving y to x given the mean (+ const)
        d = x - mean - b_move * (y - mean)
        return -jnp.sum(d**2 / (2 * s_move**2 * sigma**2), axis=-1)

    def log_p_h(h, a):  # log p(h | v) from the activations at v
        return jnp.sum(h * a - jax.nn.softplus(a), axis=-1)

    log_ratio = (
        energy(rbm, v, h, sigma)
        - energy(rbm, v_new, h_new, sigma)
        + log_q(v, v_new, m_new)
        - log_q(v_new, v, m)
        + log_p_h(h, a)
        - log_p_h(h_new, a_new)
    )
    u = rng.uniform(ku, log_ratio.shape, rng_impl)
    accept = jnp.log(u) < log_ratio
    return (
        jnp.where(accept[:, None], v_new, v),
        jnp.where(accept[:, None], a_new, a),
    )


def _chain(rbm, v, sigma, key, n_steps: int, rng_impl: str = "hash", move=None):
    """`n_steps` sweeps from `v`: block Gibbs, or Gibbs-Langevin when `move` is
    given (see `langevin_move`)."""
    if move is None:

        def body(v, k):
            return gibbs_step(rbm, v, sigma, k, rng_impl), None

        v, _ = jax.lax.scan(body, v, jr.split(key, n_steps))
        return v

    def gl_body(carry, k):
        return gibbs_langevin_step(rbm, *carry, sigma, k, move, rng_impl), None

    a = rbm.c + (v / sigma**2) @ rbm.w
    (v, _), _ = jax.lax.scan(gl_body, (v, a), jr.split(key, n_steps))
    return v


@dataclass(frozen=True)
class RBM(AbstractFamily):
    """Visible layer = data dimensions (Gaussian), hidden layer = H Bernoulli units."""

    name: str = "rbm"  # genbench sets it and the next four fields
    n_steps: int = 1  # total training steps, for learning-rate schedules
    blocks: tuple[int, int] | None = None  # binned: (one-hot blocks, units each)
    bernoulli: bool = False  # bit vectors: Bernoulli units, 0/1 samples
    rng: str = "hash"  # random draws: "hash" (genbench/rng.py) or "threefry"
    log_labels: ClassVar[dict[str, str]] = {
        "recon": "reconstruction error",
        "sigma": "visible σ (mean)",
    }
    # 512-bit vectors where the CPU has them: the step and the Gibbs chains are
    # elementwise work over (batch x hidden) activations, and XLA's default
    # 256-bit preference leaves half of an AVX-512 unit idle (README, *Speed*;
    # the GAN and VAE, with narrow layers, are slower with it). CPUs without
    # 512-bit vectors ignore it.
    compiler_options: ClassVar[dict[str, str]] = {"xla_cpu_prefer_vector_width": "512"}
    binned_output: ClassVar[str] = "states"  # one-hot Gibbs states
    cd_k: int = 1
    persistent_chains: int = 0
    learn_sigma: bool = True
    sigma: float = 0.2
    sigma_lr: float = 1.0  # learning rate of log sigma, relative to `lr`
    init_std: float = 0.01
    # "normal": W ~ N(0, init_std^2), c = 0 (every unit switches at v = 0);
    # "spread": the same W, c set so that unit j switches at a point v0_j drawn
    # uniformly from [-spread, spread] per axis (standardised data units).
    init_scheme: str = "normal"
    spread: float = 2.0
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    schedule: str = "cosine"
    # Negative-phase chains start at the batch (CD) or at N(0, 1) noise (the
    # modified CD of Liao et al. 2022); persistent_chains > 0 overrides both.
    cd_init: str = "data"
    # Sweeps of training and evaluation chains: block Gibbs, or Metropolis-
    # adjusted Gibbs-Langevin (`gibbs_langevin_step`) with `langevin_steps`
    # annealed steps of at most `langevin_eta` times the visible variance.
    sampler: str = "gibbs"
    langevin_steps: int = 10
    langevin_eta: float = 0.1
    eval_per_chain: int = 100
    eval_burn_in: int = 300
    eval_thin: int = 2
    visible: str = "softmax"  # binned mode: softmax (categorical) or bernoulli units

    def __check_init__(self) -> None:
        one_of("model.visible", self.visible, VISIBLE)
        one_of("model.init_scheme", self.init_scheme, INIT_SCHEMES)
        one_of("model.cd_init", self.cd_init, CD_INITS)
        one_of("model.sampler", self.sampler, SAMPLERS)
        check_optimizer(self.optimizer, self.schedule, lr=self.lr)
        for key in ("cd_k", "eval_per_chain", "eval_burn_in", "eval_thin", "sigma"):
            positive(f"model.{key}", getattr(self, key))
        positive("model.init_std", self.init_std)
        if self.init_scheme == "spread":
            if self.bernoulli:
                raise ConfigError(
                    f"model.init_scheme={self.init_scheme!r} is not allowed with bit "
                    "vectors: spread places switching points in continuous data; "
                    "use normal"
                )
            require(
                self.blocks is None,
                "model.init_scheme",
                self.init_scheme,
                "spread places switching points in continuous data; use normal with "
                "bins",
            )
            positive("model.spread", self.spread)
        if self.sampler == "gibbs_langevin":
            if self.bernoulli:
                raise ConfigError(
                    f"model.sampler={self.sampler!r} is not allowed with bit vectors: "
                    "Langevin moves need continuous visibles; use gibbs"
                )
            require(
                self.blocks is None, "model.sampler", self.sampler, "gibbs with bins"
            )
            eta = self.langevin_eta
            require(0 < eta <= 1, "model.langevin_eta", eta, "in (0, 1]")
        require(
            self.langevin_steps > 0, "model.langevin_steps", self.langevin_steps, "> 0"
        )
        require(self.sigma_lr >= 0, "model.sigma_lr", self.sigma_lr, "must be >= 0")
        pcd = self.persistent_chains
        require(pcd >= 0, "model.persistent_chains", pcd, ">= 0")

    @property
    def _discrete(self) -> bool:
        """Visible units are states (one-hot blocks or bits), not Gaussian."""
        return self.blocks is not None or self.bernoulli

    @property
    def _visible(self) -> str:
        """The visible units of the discrete RBM: bits are always Bernoulli."""
        return "bernoulli" if self.bernoulli else self.visible

    def figures(self, nets, encoding):
        """None of its own."""
        return {}

    @property
    def _move(self):
        if self.sampler != "gibbs_langevin":
            return None
        return langevin_move(self.langevin_steps, self.langevin_eta)

    def _gibbs(self, rbm, v, sigma, key, n_steps: int):
        """`n_steps` sweeps of the chain of this mode (continuous or binned)."""
        if not self._discrete:
            return _chain(rbm, v, sigma, key, n_steps, self.rng, self._move)

        def body(v, k):
            step = categorical_gibbs_step(
                rbm, v, k, self.blocks, self._visible, self.rng
            )
            return step, None

        v, _ = jax.lax.scan(body, v, jr.split(key, n_steps))
        return v

    def _random_visible(self, key, n, data_dim):
        if self.bernoulli:  # uniformly random bits
            return jr.bernoulli(key, 0.5, (n, data_dim)).astype(jnp.float32)
        if self.blocks is None:
            return jr.normal(key, (n, data_dim))
        n_blocks, units = self.blocks
        idx = jr.randint(key, (n, n_blocks), 0, units)
        return jax.nn.one_hot(idx, units).reshape(n, data_dim)

    def _opt(self):
        return make_optimizer(
            self.optimizer,
            self.lr,
            self.n_steps,
            self.schedule,
            self.b1,
            self.b2,
            self.momentum,
        )

    def build(self, key, data_dim, hidden):
        if self._discrete:
            return CategoricalRBM(
                w=self.init_std * jr.normal(key, (data_dim, hidden)),
                b=jnp.zeros((data_dim,)),
                c=jnp.zeros((hidden,)),
            )
        log_sigma = (
            jnp.full((data_dim,), jnp.log(self.sigma), jnp.float32)
            if self.learn_sigma
            else None
        )
        w = self.init_std * jr.normal(key, (data_dim, hidden))
        c = jnp.zeros((hidden,))
        if self.init_scheme == "spread":
            # unit j's input c_j + (v / s^2) . w_j is zero at v = v0_j
            k0 = jr.fold_in(key, 1)
            v0 = jr.uniform(k0, (data_dim, hidden), minval=-1.0, maxval=1.0)
            c = -jnp.sum(self.spread * v0 * w, axis=0) / self.sigma**2
        return GaussianRBM(w=w, b=jnp.zeros((data_dim,)), c=c, log_sigma=log_sigma)

    def sampler_part(self, nets):
        return nets

    def init(self, key, data_dim, hidden):
        kb, kc = jr.split(key)
        nets = self.build(kb, data_dim, hidden)
        chains = self._random_visible(kc, self.persistent_chains, data_dim)
        return RBMState(nets, self._opt().init(nets), chains)

    def step(self, state, batch, key):
        if self._discrete:
            return self._binned_step(state, batch, key)
        rbm = state.nets
        sigma = visible_sigma(rbm, self.sigma)
        k0, k1 = jr.split(key)
        p_data = hidden_probs(rbm, batch, sigma)
        # `recon` (logged): squared distance of the batch from the mean of
        # p(v | h), h from the batch; the sampled h of the first sweep in CD
        # (it costs nothing more), its probabilities in PCD (no sweep starts
        # from the data there).
        if self.persistent_chains or self.cd_init == "noise" or self._move:
            if self.persistent_chains:
                start = state.chains
            elif self.cd_init == "noise":
                start = rng.normal(jr.fold_in(k0, 2), batch.shape, self.rng)
            else:
                start = batch
            neg = self._gibbs(rbm, start, sigma, k1, self.cd_k)
            recon = jnp.mean((batch - rbm.b - p_data @ rbm.w.T) ** 2)
        else:  # the first sweep starts from the data: reuse its hidden probabilities
            h = rng.bernoulli(k0, p_data, self.rng)
            mean = rbm.b + h @ rbm.w.T
            recon = jnp.mean((batch - mean) ** 2)
            neg = _visible_sample(mean, sigma, k0, self.rng)
            neg = _chain(rbm, neg, sigma, k1, self.cd_k - 1, self.rng)
        grads = cd_gradient(rbm, batch, p_data, neg, sigma)
        updates, opt = self._opt().update(grads, state.opt, rbm)
        if rbm.log_sigma is not None and self.sigma_lr != 1.0:
            # the visible scale on a slower clock: at the weights' rate it can
            # grow until the RBM is one Gaussian, from which CD does not return
            scaled = updates.log_sigma * self.sigma_lr
            updates = eqx.tree_at(lambda u: u.log_sigma, updates, scaled)
        rbm = optax.apply_updates(rbm, updates)
        chains = neg if self.persistent_chains else state.chains
        logs = {"recon": recon, "sigma": jnp.mean(sigma)}
        return RBMState(rbm, opt, chains), logs

    def _binned_step(self, state, batch, key):
        rbm = state.nets
        k0, k1 = jr.split(key)
        p_data = jax.nn.sigmoid(rbm.c + batch @ rbm.w)
        if self.persistent_chains:
            neg = self._gibbs(rbm, state.chains, None, k1, self.cd_k)
        else:  # the first sweep starts from the data: reuse its hidden probabilities
            h = rng.bernoulli(k0, p_data, self.rng)
            neg = _visible_states(rbm, h, k0, self.blocks, self._visible, self.rng)
            neg = self._gibbs(rbm, neg, None, k1, self.cd_k - 1)
        grads = categorical_cd_gradient(rbm, batch, p_data, neg)
        updates, opt = self._opt().update(grads, state.opt, rbm)
        rbm = optax.apply_updates(rbm, updates)
        chains = neg if self.persistent_chains else state.chains
        recon = jnp.mean((batch - jax.nn.sigmoid(rbm.b + p_data @ rbm.w.T)) ** 2)
        return RBMState(rbm, opt, chains), {"recon": recon}

    def sample(self, state, key, n):
        """`n` samples from ceil(n / eval_per_chain) chains started from noise.

        Noise: N(0, 1) in continuous mode, uniformly random one-hot blocks in binned
        mode and random bits for bit vectors (there the samples are visible
        states, decoded by the encoding).

        Each chain runs `eval_burn_in` sweeps, then keeps one state every
        `eval_thin` sweeps, `eval_per_chain` times.
        """
        rbm = state.nets
        sigma = None if self._discrete else visible_sigma(rbm, self.sigma)
        n_chains = -(-n // self.eval_per_chain)
        per_chain = -(-n // n_chains)
        k0, k1, k2 = jr.split(key, 3)
        v = self._random_visible(k0, n_chains, rbm.b.shape[0])
        v = self._gibbs(rbm, v, sigma, k1, self.eval_burn_in)

        def body(v, k):
            v = self._gibbs(rbm, v, sigma, k, self.eval_thin)
            return v, v

        _, kept = jax.lax.scan(body, v, jr.split(k2, per_chain))
        return kept.reshape(-1, rbm.b.shape[0])[:n]
