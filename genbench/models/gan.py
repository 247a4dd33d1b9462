"""GAN: MLP generator and discriminator, non-saturating loss, smoothed real labels.

Optional stabilisers, each off at 0:

- `r1`: the R1 gradient penalty on real data, `r1 / 2 * E_x[|grad_x D(x)|^2]` added to
  the discriminator's loss (Mescheder, Geiger and Nowozin 2018, "Which Training
  Methods for GANs do actually Converge?"), with D the discriminator's logit.
- `ema`: samples come from an exponential moving average of the generator's
  weights, `g_ema <- ema * g_ema + (1 - ema) * g` after every step (Yazici et al.
  2019, "The Unusual Effectiveness of Averaging in GAN Training"). The average is a
  copy, not a trained parameter: it is not counted in the budget.
- `lr_g`, `lr_d`: separate learning rates of the generator and the discriminator
  (the two time-scale update rule, Heusel et al. 2017).
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
from ..errors import one_of, positive, require
from .base import (
    ACTIVATIONS,
    AbstractFamily,
    OneHiddenMLP,
    check_optimizer,
    make_optimizer,
)

__all__ = [
    "GAN",
    "GANNets",
    "GANState",
    "discriminator_loss",
    "generator_loss",
    "r1_penalty",
]


def discriminator_loss(
    real_logits: Float[Array, " n"], fake_logits: Float[Array, " n"], real_label: float
) -> Array:
    """Binary cross-entropy: real samples target `real_label`, fakes target 0."""
    real = real_label * jax.nn.log_sigmoid(real_logits) + (1 - real_label) * (
        jax.nn.log_sigmoid(-real_logits)
    )
    fake = jax.nn.log_sigmoid(-fake_logits)
    return -(jnp.mean(real) + jnp.mean(fake))


def generator_loss(fake_logits: Float[Array, " n"]) -> Array:
    """Non-saturating heuristic: `-E[log D(G(z))]`."""
    return -jnp.mean(jax.nn.log_sigmoid(fake_logits))


def r1_penalty(disc: OneHiddenMLP, real: Float[Array, "n d"]) -> Array:
    """`E_x[|grad_x D(x)|^2]` over the real batch (D: the logit), without the
    weight `r1 / 2`. Rows are independent, so the gradient of the summed logits
    gives every row's input gradient at once."""
    grads = jax.grad(lambda x: jnp.sum(disc(x)))(real)
    return jnp.mean(jnp.sum(grads**2, axis=-1))


class GANNets(eqx.Module):
    generator: OneHiddenMLP
    discriminator: OneHiddenMLP
    # The moving average of the generator's weights (`ema > 0`), which draws the
    # samples; None without EMA, and in `build` (it is not a trained parameter).
    generator_ema: OneHiddenMLP | None = None


class GANState(NamedTuple):
    nets: GANNets
    opt_g: optax.OptState
    opt_d: optax.OptState


@dataclass(frozen=True)
class GAN(AbstractFamily):
    """Generator `z (latent_dim) -> H -> data`, discriminator `data -> H -> logit`."""

    name: str = "gan"  # genbench sets it and the next four fields
    n_steps: int = 1  # total training steps, for learning-rate schedules
    blocks: tuple[int, int] | None = None  # binned: (one-hot blocks, units each)
    bernoulli: bool = False  # bit vectors: Bernoulli units, 0/1 samples
    rng: str = "hash"  # random draws: "hash" (genbench/rng.py) or "threefry"
    log_labels: ClassVar[dict[str, str]] = {
        "loss_d": "discriminator loss",
        "loss_g": "generator loss",
    }
    # No YNNPACK fusions: XLA hands small reductions (the bias gradients over the
    # batch, the softmax backward over a block's units) to YNNPACK, which is slow
    # at these shapes; XLA's own loops are faster (README, *Speed*; the VAE and
    # the RBM keep them).
    compiler_options: ClassVar[dict[str, str]] = {
        "xla_cpu_experimental_ynn_fusion_type": ""
    }
    binned_output: ClassVar[str] = "states"  # the Gumbel-max one-hot draws
    latent_dim: int = 16
    activation: str = "leaky_relu"
    leaky_slope: float = 0.2
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_g: float | None = None
    lr_d: float | None = None
    b1: float = 0.5
    b2: float = 0.999
    schedule: str = "cosine"
    real_label: float = 0.9
    gumbel_tau: float = 1.0
    r1: float = 0.0  # weight of the R1 penalty on real data; 0: off
    ema: float = 0.0  # decay of the generator's weight average for sampling; 0: off

    def __check_init__(self) -> None:
        check_optimizer(
            self.optimizer, self.schedule, lr=self.lr, lr_g=self.lr_g, lr_d=self.lr_d
        )
        positive("model.gumbel_tau", self.gumbel_tau)
        one_of("model.activation", self.activation, ACTIVATIONS)
        positive("model.latent_dim", self.latent_dim)
        require(
            0 < self.real_label <= 1, "model.real_label", self.real_label, "in (0, 1]"
        )
        require(self.r1 >= 0, "model.r1", self.r1, "must be >= 0 (0: off)")
        require(0 <= self.ema < 1, "model.ema", self.ema, "must be in [0, 1) (0: off)")

    def _fake(self, gen, z, key, straight_through: bool = True, exact: bool = False):
        """Generator output in the form the discriminator sees real data.

        Continuous: the output itself. Binned: a straight-through Gumbel-softmax
        sample per block: exactly one-hot in the forward pass (as real data), with
        the gradient of the tempered softmax in the backward pass. Bits
        (`bernoulli`): a straight-through Bernoulli draw per output, the binary
        case of the same (logistic noise, `logit + noise > 0`, the gradient of
        `sigmoid((logit + noise) / gumbel_tau)`; Maddison et al. 2017, Jang et
        al. 2017).
        """
        out = gen(z)
        if self.bernoulli:
            noisy = out + rng.logistic(key, out.shape, self.rng)
            hard = (noisy > 0).astype(out.dtype)
            if not straight_through:
                return hard
            soft = jax.nn.sigmoid(noisy / self.gumbel_tau)
            return hard + soft - jax.lax.stop_gradient(soft)
        if self.blocks is None:
            return out
        n_blocks, units = self.blocks
        noisy = out.reshape(-1, n_blocks, units)
        noisy = noisy + rng.gumbel(key, noisy.shape, self.rng)
        # Gumbel-max: the argmax of the noisy logits is a draw from softmax(logits).
        # Training marks it by comparison with the block's maximum: XLA's CPU argmax
        # (a two-output reduction) costs several times more, and a tie (about one
        # block in a million) only shows the discriminator one two-hot fake.
        # Samples (`exact`) use argmax: exactly one unit per block, always.
        if exact:
            idx = jnp.argmax(noisy, axis=-1)
            hard = jax.nn.one_hot(idx, units, dtype=out.dtype)
        else:
            top = noisy == jnp.max(noisy, axis=-1, keepdims=True)
            hard = top.astype(out.dtype)
        if not straight_through:  # exact 0/1 values (hard + soft - soft may not be)
            return hard.reshape(out.shape)
        soft = jax.nn.softmax(noisy / self.gumbel_tau)
        return (hard + soft - jax.lax.stop_gradient(soft)).reshape(out.shape)

    def _opt(self, lr: float | None) -> optax.GradientTransformation:
        return make_optimizer(
            self.optimizer, lr or self.lr, self.n_steps, self.schedule, self.b1, self.b2
        )

    def build(self, key, data_dim, hidden):
        kg, kd = jr.split(key)
        mlp = dict(activation=self.activation, slope=self.leaky_slope)
        return GANNets(
            OneHiddenMLP(self.latent_dim, hidden, data_dim, kg, **mlp),
            OneHiddenMLP(data_dim, hidden, 1, kd, **mlp),
        )

    def sampler_part(self, nets):
        return nets.generator

    def init(self, key, data_dim, hidden):
        nets = self.build(key, data_dim, hidden)
        if self.ema > 0:
            nets = GANNets(nets.generator, nets.discriminator, nets.generator)
        return GANState(
            nets,
            self._opt(self.lr_g).init(nets.generator),
            self._opt(self.lr_d).init(nets.discriminator),
        )

    def step(self, state, batch, key):
        kd, kg, kgd, kgg = jr.split(key, 4)
        n = batch.shape[0]
        gen, disc = state.nets.generator, state.nets.discriminator
        z = rng.normal(kd, (n, self.latent_dim), self.rng)
        # the discriminator's update needs only the values: exact one-hot draws
        fake = jax.lax.stop_gradient(self._fake(gen, z, kgd, straight_through=False))

        def d_loss(d):
            loss = discriminator_loss(d(batch)[:, 0], d(fake)[:, 0], self.real_label)
            if self.r1 > 0:
                loss = loss + 0.5 * self.r1 * r1_penalty(d, batch)
            return loss

        loss_d, grads = jax.value_and_grad(d_loss)(disc)
        updates, opt_d = self._opt(self.lr_d).update(grads, state.opt_d, disc)
        disc = optax.apply_updates(disc, updates)

        z = rng.normal(kg, (n, self.latent_dim), self.rng)

        def g_loss(g):
            return generator_loss(disc(self._fake(g, z, kgg))[:, 0])

        loss_g, grads = jax.value_and_grad(g_loss)(gen)
        updates, opt_g = self._opt(self.lr_g).update(grads, state.opt_g, gen)
        gen = optax.apply_updates(gen, updates)
        ema = state.nets.generator_ema
        if ema is not None:
            ema = jax.tree_util.tree_map(
                lambda a, g: self.ema * a + (1 - self.ema) * g, ema, gen
            )
        new = GANState(GANNets(gen, disc, ema), opt_g, opt_d)
        return new, {"loss_d": loss_d, "loss_g": loss_g}

    def figures(self, nets, encoding):
        """None of its own."""
        return {}

    def sample(self, state, key, n):
        """Continuous: standardised values. Binned: the one-hot Gumbel-max draws
        the discriminator judges in training (the generator's actual samples).
        Bits: the Bernoulli draws, likewise."""
        kz, kg = jr.split(key)
        z = rng.normal(kz, (n, self.latent_dim), self.rng)
        nets = state.nets
        gen = nets.generator if nets.generator_ema is None else nets.generator_ema
        return self._fake(gen, z, kg, straight_through=False, exact=True)
