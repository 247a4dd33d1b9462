"""The interface every model family implements, and shared building blocks.

A family is a frozen dataclass of hyperparameters (hashable, so it can be a
static argument of `jax.jit` and a cache key of the budget solver). Its methods
are pure: state in, state out.

- `build(key, data_dim, hidden)` the networks (an `eqx.Module` of arrays only)
- `sampler_part(nets)` the part of the networks used to draw samples
- `init(key, data_dim, hidden)` networks plus optimiser state (a NamedTuple)
- `step(state, batch, key)` one training update; returns `(state, logs)`
- `sample(state, key, n)` `n` samples in model space
- `figures(nets, encoding)` the family's own figures (`{}`: none)
- fields: its hyperparameters and `SUPPLIED_FIELDS`, which genbench sets
- class variables (optional): `log_labels` (the logged losses of `step` in
  words, for figures), `compiler_options` (XLA options for the trainer's
  programs), `binned_output` (what `sample` returns in binned mode)
- `__check_init__()` (optional) refuses values of its own fields: a
  `ConfigError` naming the key (`model.lr`), the value and what is allowed.
  Every class's `__check_init__` along the class hierarchy runs when an
  instance is made (Equinox's pattern), from the config or from Python alike,
  so a family defines no `__post_init__`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ..errors import one_of, require
from ..rng import IMPLS

__all__ = [
    "AbstractFamily",
    "OneHiddenMLP",
    "block_softmax",
    "check_optimizer",
    "make_optimizer",
]


def block_softmax(logits: Array, blocks: tuple[int, int]) -> Array:
    """Softmax within each one-hot block of a flat `(n, blocks * units)` array."""
    n_blocks, units = blocks
    y = jax.nn.softmax(logits.reshape(-1, n_blocks, units), axis=-1)
    return y.reshape(logits.shape)


ACTIVATIONS = ("leaky_relu", "relu", "tanh", "elu", "silu")
OPTIMIZERS = ("adam", "sgd")  # model.optimizer (make_optimizer)
SCHEDULES = ("constant", "cosine")  # model.schedule (make_optimizer)


def _activate(x: Array, name: str, slope: float) -> Array:
    if name == "leaky_relu":
        return jax.nn.leaky_relu(x, slope)
    if name == "relu":
        return jax.nn.relu(x)
    if name == "tanh":
        return jnp.tanh(x)
    if name == "elu":
        return jax.nn.elu(x)
    if name == "silu":
        return jax.nn.silu(x)
    raise ValueError(f"activation {name!r} is not allowed; use one of {ACTIVATIONS}")


class OneHiddenMLP(eqx.Module):
    """`n_in -> hidden -> n_out` with one nonlinearity; acts on a batch `(n, n_in)`."""

    hidden: eqx.nn.Linear
    out: eqx.nn.Linear
    activation: str = eqx.field(static=True)
    slope: float = eqx.field(static=True)

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        key: PRNGKeyArray,
        activation: str = "leaky_relu",
        slope: float = 0.2,
    ):
        k1, k2 = jr.split(key)
        self.hidden = eqx.nn.Linear(n_in, n_hidden, key=k1)
        self.out = eqx.nn.Linear(n_hidden, n_out, key=k2)
        self.activation = activation
        self.slope = slope

    def __call__(self, x: Float[Array, "n n_in"]) -> Float[Array, "n n_out"]:
        h = x @ self.hidden.weight.T + self.hidden.bias
        h = _activate(h, self.activation, self.slope)
        return h @ self.out.weight.T + self.out.bias


def check_optimizer(optimizer: str, schedule: str, **rates: float | None) -> None:
    """Refuse settings `make_optimizer` cannot take (a family's `__check_init__`
    calls it): the optimiser and the schedule from their lists, and each
    learning rate in `rates` (`lr=...`, named as the family's key) > 0 or None
    (unset). Raises ConfigError."""
    one_of("model.optimizer", optimizer, OPTIMIZERS)
    one_of("model.schedule", schedule, SCHEDULES)
    for key, rate in rates.items():
        require(rate is None or rate > 0, f"model.{key}", rate, "must be > 0")


def make_optimizer(
    name: str,
    lr: float,
    n_steps: int,
    schedule: str = "constant",
    b1: float = 0.9,
    b2: float = 0.999,
    momentum: float = 0.0,
) -> optax.GradientTransformation:
    """An Optax optimiser from config values; `schedule` is constant or cosine."""
    if schedule == "constant":
        rate: Any = lr
    elif schedule == "cosine":
        rate = optax.cosine_decay_schedule(lr, decay_steps=max(1, n_steps))
    else:
        allowed = ", ".join(SCHEDULES)
        raise ValueError(f"model.schedule={schedule!r}; allowed: {allowed}")
    if name == "adam":
        return optax.adam(rate, b1=b1, b2=b2)
    if name == "sgd":
        return optax.sgd(rate, momentum=momentum or None)
    raise ValueError(f"model.optimizer={name!r}; allowed: {', '.join(OPTIMIZERS)}")


# The fields genbench sets itself when it builds a family (`config.FAMILY_ARGS`
# plus `name`): every concrete family declares them.
SUPPLIED_FIELDS = ("name", "n_steps", "blocks", "bernoulli")


@dataclass(frozen=True)
class AbstractFamily(abc.ABC):
    """The interface of a model family (see the module docstring). Abstract or
    final, as Equinox's classes: this class has no fields and its concrete
    methods are not overridden; a family declares its fields (at least
    `SUPPLIED_FIELDS`) and implements the abstract methods.

    Raises:
        TypeError: a concrete family lacks a field of `SUPPLIED_FIELDS`, or
            defines `__post_init__` (its checks go in `__check_init__`).
    """

    # The keys of `step`'s logs in words (figure axes); a key without one is
    # shown with spaces for underscores.
    log_labels: ClassVar[dict[str, str]] = {}
    # XLA options the trainer compiles this family's training and evaluation
    # programs with (`jax.stages.Lowered.compile`). They change speed only,
    # never results beyond float rounding.
    compiler_options: ClassVar[dict[str, str]] = {}
    # What `sample` returns in binned mode: per-block "logits" (decoded by
    # `bins.decode`) or one-hot "states".
    binned_output: ClassVar[str] = "logits"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__post_init__" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} defines __post_init__: a family checks its values "
                "in __check_init__ (see genbench.models.base), which runs with "
                "every other class's check"
            )

    def __post_init__(self) -> None:
        """Run each class's own `__check_init__`, the most basic first."""
        for cls in reversed(type(self).__mro__):
            check = cls.__dict__.get("__check_init__")
            if check is not None:
                check(self)

    def __check_init__(self) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        missing = [f for f in SUPPLIED_FIELDS if f not in names]
        if missing:
            raise TypeError(
                f"{type(self).__name__} lacks the field(s) {', '.join(missing)} "
                "that genbench sets (see genbench.models.GAN for their defaults)"
            )
        if "rng" in names:
            one_of("model.rng", self.rng, IMPLS)

    @property
    def output_kind(self) -> str:
        """What `sample` returns in model space: values, per-block logits or
        one-hot states (`binned_output`), or bit states."""
        if self.bernoulli:
            return "states"
        return "values" if self.blocks is None else self.binned_output

    @abc.abstractmethod
    def build(self, key: PRNGKeyArray, data_dim: int, hidden: int) -> eqx.Module: ...

    @abc.abstractmethod
    def sampler_part(self, nets: eqx.Module) -> Any: ...

    @abc.abstractmethod
    def init(self, key: PRNGKeyArray, data_dim: int, hidden: int) -> Any: ...

    @abc.abstractmethod
    def step(
        self, state: Any, batch: Float[Array, "n d"], key: PRNGKeyArray
    ) -> tuple[Any, dict[str, Array]]: ...

    @abc.abstractmethod
    def sample(self, state: Any, key: PRNGKeyArray, n: int) -> Float[Array, "n d"]: ...

    def step_flops(self, data_dim: int, hidden: int, batch_size: int) -> float:
        """Floating-point operations of one training step of one seed, from XLA's
        cost analysis of the lowered (unoptimised) step: matrix products and
        elementwise work alike. Traces the step abstractly; computes nothing."""
        state = eqx.filter_eval_shape(self.init, jr.key(0), data_dim, hidden)
        batch = jax.ShapeDtypeStruct((batch_size, data_dim), jnp.float32)
        key = jax.eval_shape(lambda: jr.key(0))
        cost = jax.jit(self.step).lower(state, batch, key).cost_analysis()
        if isinstance(cost, list):  # older JAX: one dict per program
            cost = cost[0]
        return float((cost or {}).get("flops", float("nan")))

    @abc.abstractmethod
    def figures(self, nets: eqx.Module, encoding: Any) -> dict[str, Callable]:
        """The figures this family adds to a run's `plots/` folder, drawn from
        one seed's networks `nets`: file name -> `draw(path, meta)` (`{}`: none;
        the VAE draws its latent manifold)."""

    def params(self, state: Any) -> eqx.Module:
        """The networks inside a training state (what gets saved)."""
        return state.nets
