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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .. import rng
from .base import AbstractFamily, make_optimizer

__all__ = [
    "RBM",
    "GaussianRBM",
    "RBMState",
    "cd_gradient",
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
    # over the batch axis to a reduction that took 2-4x longer than the product
    # above. `vs * 0 + 1` (1 where vs is finite) keeps the seed axis under vmap,
    # so both products take the same form; a constant vector makes XLA
    # transpose p first.
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


def _chain(rbm, v, sigma, key, n_steps: int, rng_impl: str = "hash"):
    def body(v, k):
        return gibbs_step(rbm, v, sigma, k, rng_impl), None

    v, _ = jax.lax.scan(body, v, jr.split(key, n_steps))
    return v


@dataclass(frozen=True)
class RBM(AbstractFamily):
    """Visible layer = data dimensions (Gaussian), hidden layer = H Bernoulli units."""

    name: str = "rbm"
    cd_k: int = 1
    persistent_chains: int = 0
    learn_sigma: bool = True
    sigma: float = 0.2
    init_std: float = 0.01
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    schedule: str = "cosine"
    eval_per_chain: int = 100
    eval_burn_in: int = 300
    eval_thin: int = 2
    visible: str = "softmax"  # binned mode: softmax (categorical) or bernoulli units

    @property
    def output_kind(self) -> str:
        return "values" if self.blocks is None else "states"

    @property
    def compiler_options(self) -> dict[str, str]:
        """512-bit vectors where the CPU has them. The RBM's step and Gibbs chains
        are elementwise work over (batch x hidden) activations (two logistic
        functions and a Bernoulli draw per unit), and XLA's default preference for
        256-bit vectors leaves half of an AVX-512 unit idle: 1.2-1.35x faster on
        this project's 2-core AMD EPYC (scripts/bench.py). The GAN and VAE, with
        narrow layers, ran about 5 % slower with it. CPUs without 512-bit vectors
        ignore the preference."""
        return {"xla_cpu_prefer_vector_width": "512"}

    def _gibbs(self, rbm, v, sigma, key, n_steps: int):
        """`n_steps` sweeps of the chain of this mode (continuous or binned)."""
        if self.blocks is None:
            return _chain(rbm, v, sigma, key, n_steps, self.rng)

        def body(v, k):
            step = categorical_gibbs_step(
                rbm, v, k, self.blocks, self.visible, self.rng
            )
            return step, None

        v, _ = jax.lax.scan(body, v, jr.split(key, n_steps))
        return v

    def _random_visible(self, key, n, data_dim):
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
        if self.blocks is not None:
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
        return GaussianRBM(
            w=self.init_std * jr.normal(key, (data_dim, hidden)),
            b=jnp.zeros((data_dim,)),
            c=jnp.zeros((hidden,)),
            log_sigma=log_sigma,
        )

    def sampler_part(self, nets):
        return nets

    def init(self, key, data_dim, hidden):
        kb, kc = jr.split(key)
        nets = self.build(kb, data_dim, hidden)
        chains = self._random_visible(kc, self.persistent_chains, data_dim)
        return RBMState(nets, self._opt().init(nets), chains)

    def step(self, state, batch, key):
        if self.blocks is not None:
            return self._binned_step(state, batch, key)
        rbm = state.nets
        sigma = visible_sigma(rbm, self.sigma)
        k0, k1 = jr.split(key)
        p_data = hidden_probs(rbm, batch, sigma)
        # `recon` (logged): squared distance of the batch from the mean of
        # p(v | h), h from the batch; the sampled h of the first sweep in CD
        # (it costs nothing more), its probabilities in PCD (no sweep starts
        # from the data there).
        if self.persistent_chains:
            neg = _chain(rbm, state.chains, sigma, k1, self.cd_k, self.rng)
            recon = jnp.mean((batch - rbm.b - p_data @ rbm.w.T) ** 2)
        else:  # the first sweep starts from the data: reuse its hidden probabilities
            h = rng.bernoulli(k0, p_data, self.rng)
            mean = rbm.b + h @ rbm.w.T
            recon = jnp.mean((batch - mean) ** 2)
            neg = _visible_sample(mean, sigma, k0, self.rng)
            neg = _chain(rbm, neg, sigma, k1, self.cd_k - 1, self.rng)
        grads = cd_gradient(rbm, batch, p_data, neg, sigma)
        updates, opt = self._opt().update(grads, state.opt, rbm)
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
            neg = _visible_states(rbm, h, k0, self.blocks, self.visible, self.rng)
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
        mode (where the samples are visible states, decoded by the encoding).

        Each chain runs `eval_burn_in` sweeps, then keeps one state every
        `eval_thin` sweeps, `eval_per_chain` times.
        """
        rbm = state.nets
        sigma = None if self.blocks is not None else visible_sigma(rbm, self.sigma)
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
