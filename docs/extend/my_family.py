"""A model family from outside genbench: a mixture of H diagonal Gaussians,
trained by maximum likelihood with Adam."""

from dataclasses import dataclass
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax

from genbench import ConfigError
from genbench.models.base import AbstractFamily


class Mixture(eqx.Module):
    logits: jax.Array  # (H,)
    means: jax.Array  # (H, dim)
    log_stds: jax.Array  # (H, dim)


class State(NamedTuple):
    nets: Mixture
    opt: optax.OptState


@dataclass(frozen=True)
class GaussianMixture(AbstractFamily):
    name: str = "gmm"
    n_steps: int = 1  # genbench sets name and these three fields
    blocks: tuple[int, int] | None = None
    bernoulli: bool = False
    lr: float = 1e-2

    def __check_init__(self):  # runs whenever the class is built (config or Python)
        if self.lr <= 0:
            raise ConfigError(f"model.lr={self.lr!r} is not allowed: must be > 0")
        if self.blocks is not None or self.bernoulli:  # set from bins.n, target
            raise ConfigError(
                f"model={self.name} models continuous data only: bins.n=0 and a "
                "target that is not bit vectors"
            )

    def build(self, key, data_dim, hidden):
        means = jr.normal(key, (hidden, data_dim))
        return Mixture(jnp.zeros(hidden), means, jnp.zeros((hidden, data_dim)))

    def sampler_part(self, nets):
        return nets

    def init(self, key, data_dim, hidden):
        nets = self.build(key, data_dim, hidden)
        return State(nets, optax.adam(self.lr).init(nets))

    def step(self, state, batch, key):
        def nll(m):
            z = (batch[:, None, :] - m.means) / jnp.exp(m.log_stds)  # (n, H, dim)
            log_pdf = -0.5 * z**2 - m.log_stds - 0.5 * jnp.log(2 * jnp.pi)
            log_w = jax.nn.log_softmax(m.logits)
            return -jnp.mean(jax.nn.logsumexp(log_w + log_pdf.sum(-1), axis=1))

        loss, grads = jax.value_and_grad(nll)(state.nets)
        updates, opt = optax.adam(self.lr).update(grads, state.opt)
        return State(optax.apply_updates(state.nets, updates), opt), {"nll": loss}

    def sample(self, state, key, n):
        m, (kc, kz) = state.nets, jr.split(key)
        comp = jr.categorical(kc, m.logits, shape=(n,))
        z = jr.normal(kz, (n, m.means.shape[1]))
        return m.means[comp] + jnp.exp(m.log_stds[comp]) * z

    def figures(self, nets, encoding):
        return {}  # no figures of its own
