"""VAE: Gaussian encoder (mean, log-variance), reparameterised latent, MSE + beta KL.

Bit-vector data (`bernoulli`): a Bernoulli decoder. Its outputs are the logits
of independent bits, the reconstruction term is their binary cross-entropy
(Kingma and Welling 2014, appendix C.1), and a sample is a Bernoulli draw of
every bit; with `binary_loss: mse` the outputs are the bits' probabilities
(clipped to [0, 1] to draw), fitted by the squared error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float

from .. import rng
from ..errors import one_of, positive
from .base import (
    ACTIVATIONS,
    AbstractFamily,
    OneHiddenMLP,
    check_optimizer,
    make_optimizer,
)

__all__ = ["VAE", "VAENets", "VAEState", "gaussian_kl", "vae_loss"]

BINNED_LOSSES = ("categorical", "mse")  # model.binned_loss (vae_loss)
BINARY_LOSSES = ("cross_entropy", "mse")  # model.binary_loss (vae_loss)


def gaussian_kl(mu: Float[Array, "n z"], logvar: Float[Array, "n z"]) -> Array:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row, summed over latent dimensions."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)


class VAENets(eqx.Module):
    encoder: OneHiddenMLP
    decoder: OneHiddenMLP


def vae_loss(
    nets: VAENets,
    x: Float[Array, "n d"],
    eps: Float[Array, "n z"],
    beta: float,
    blocks: tuple[int, int] | None = None,
    bits: bool = False,
) -> tuple[Array, tuple[Array, Array]]:
    """Negative ELBO: mean over the batch of `reconstruction + beta KL`.

    Reconstruction is `||x - x_hat||^2` (the specification), or, when `blocks` is
    given (binned mode, categorical loss), the cross-entropy of each one-hot block
    under the softmax of the decoder's logits, summed over blocks, or, when `bits`
    (a Bernoulli decoder), the binary cross-entropy of every bit under the sigmoid
    of its logit, summed over bits. Returns
    `(loss, (reconstruction, kl))`, both batch means. `eps` is the standard normal
    noise of the reparameterisation `z = mu + sigma * eps`.
    """
    stats = nets.encoder(x)
    z_dim = eps.shape[-1]
    mu, logvar = stats[:, :z_dim], stats[:, z_dim:]
    z = mu + jnp.exp(0.5 * logvar) * eps
    out = nets.decoder(z)
    if bits:  # -x log sigmoid(out) - (1 - x) log(1 - sigmoid(out))
        recon = jnp.sum(jax.nn.softplus(out) - x * out, axis=-1)
    elif blocks is None:
        recon = jnp.sum((x - out) ** 2, axis=-1)
    else:
        n_blocks, units = blocks
        logp = jax.nn.log_softmax(out.reshape(-1, n_blocks, units), axis=-1)
        recon = -jnp.sum(x.reshape(logp.shape) * logp, axis=(1, 2))
    kl = gaussian_kl(mu, logvar)
    return jnp.mean(recon + beta * kl), (jnp.mean(recon), jnp.mean(kl))


class VAEState(NamedTuple):
    nets: VAENets
    opt: optax.OptState


@dataclass(frozen=True)
class VAE(AbstractFamily):
    """Encoder `data -> H -> 2*latent`, decoder `latent -> H -> data`."""

    name: str = "vae"  # genbench sets it and the next four fields
    n_steps: int = 1  # total training steps, for learning-rate schedules
    blocks: tuple[int, int] | None = None  # binned: (one-hot blocks, units each)
    bernoulli: bool = False  # bit vectors: Bernoulli units, 0/1 samples
    rng: str = "hash"  # random draws: "hash" (genbench/rng.py) or "threefry"
    log_labels: ClassVar[dict[str, str]] = {
        "loss": "loss (negative ELBO)",
        "recon": "reconstruction term",
        "kl_latent": "KL(q(z|x)‖p(z))",
    }
    latent_dim: int = 2
    activation: str = "leaky_relu"
    leaky_slope: float = 0.2
    beta: float = 0.1
    optimizer: str = "adam"
    lr: float = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    schedule: str = "constant"
    binned_loss: str = "categorical"  # binned mode: categorical cross-entropy or mse
    binary_loss: str = "cross_entropy"  # bit vectors: Bernoulli cross-entropy or mse

    def __check_init__(self) -> None:
        one_of("model.binned_loss", self.binned_loss, BINNED_LOSSES)
        one_of("model.binary_loss", self.binary_loss, BINARY_LOSSES)
        check_optimizer(self.optimizer, self.schedule, lr=self.lr)
        one_of("model.activation", self.activation, ACTIVATIONS)
        positive("model.latent_dim", self.latent_dim)
        positive("model.beta", self.beta)

    def _opt(self):
        return make_optimizer(
            self.optimizer, self.lr, self.n_steps, self.schedule, self.b1, self.b2
        )

    def build(self, key, data_dim, hidden):
        ke, kd = jr.split(key)
        mlp = dict(activation=self.activation, slope=self.leaky_slope)
        return VAENets(
            OneHiddenMLP(data_dim, hidden, 2 * self.latent_dim, ke, **mlp),
            OneHiddenMLP(self.latent_dim, hidden, data_dim, kd, **mlp),
        )

    def sampler_part(self, nets):
        return nets.decoder

    def init(self, key, data_dim, hidden):
        nets = self.build(key, data_dim, hidden)
        return VAEState(nets, self._opt().init(nets))

    def step(self, state, batch, key):
        eps = rng.normal(key, (batch.shape[0], self.latent_dim), self.rng)
        grad_fn = jax.value_and_grad(vae_loss, has_aux=True)
        blocks = self.blocks if self.binned_loss == "categorical" else None
        bits = self.bernoulli and self.binary_loss == "cross_entropy"
        (loss, (recon, kl)), grads = grad_fn(
            state.nets, batch, eps, self.beta, blocks, bits
        )
        updates, opt = self._opt().update(grads, state.opt, state.nets)
        nets = optax.apply_updates(state.nets, updates)
        # the latent KL term as `kl_latent`: `kl` is the headline metric's name
        logs = {"loss": loss, "recon": recon, "kl_latent": kl}
        return VAEState(nets, opt), logs

    def sample(self, state, key, n):
        """Decoder outputs at `n` latent draws; bits: a Bernoulli draw of each."""
        kz, kb = jr.split(key)
        if not self.bernoulli:
            return state.nets.decoder(rng.normal(key, (n, self.latent_dim), self.rng))
        out = state.nets.decoder(rng.normal(kz, (n, self.latent_dim), self.rng))
        if self.binary_loss == "cross_entropy":
            p = jax.nn.sigmoid(out)
        else:
            p = jnp.clip(out, 0.0, 1.0)
        return rng.bernoulli(kb, p, self.rng)

    def figures(self, nets, encoding):
        """With a 2D latent: the decoder's output over a grid of z
        (`plots.plot_latent_manifold`)."""
        if self.latent_dim != 2:
            return {}
        from functools import partial

        from ..plots import plot_latent_manifold

        draw = partial(
            plot_latent_manifold,
            decoder=nets.decoder,
            encoding=encoding,
            kind=self.output_kind,
        )
        return {"latent_manifold.png": draw}
