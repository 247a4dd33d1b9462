"""Encodings between data space and the space the models see.

One object owns the transformation both ways, so that training data, decoded
samples and scoring can never disagree. Continuous mode standardises each axis by
the target's analytic mean and standard deviation.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["AbstractEncoding", "Standardise", "make_encoding"]


class AbstractEncoding(abc.ABC):
    """Maps data (`n dim`) to model space (`n model_dim`) and back."""

    mode: str
    model_dim: int

    @abc.abstractmethod
    def encode(self, x: Float[Array, "n dim"]) -> Float[Array, "n model_dim"]: ...

    @abc.abstractmethod
    def decode(self, y: Float[Array, "n model_dim"]) -> Float[Array, "n dim"]: ...


@dataclass(frozen=True, eq=False)
class Standardise(AbstractEncoding):
    """Continuous mode: `(x - mean) / std` per axis."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    mode: str = "continuous"

    @property
    def model_dim(self) -> int:  # type: ignore[override]
        return len(self.mean)

    def encode(self, x):
        return (x - jnp.asarray(self.mean)) / jnp.asarray(self.std)

    def decode(self, y):
        return y * jnp.asarray(self.std) + jnp.asarray(self.mean)


def make_encoding(target, n_bins: int) -> AbstractEncoding:
    """The encoding of `target`'s data for `bins.n = n_bins` (0: continuous)."""
    if n_bins == 0:
        return Standardise(
            tuple(np.asarray(target.mean(), float).tolist()),
            tuple(np.asarray(target.std(), float).tolist()),
        )
    raise NotImplementedError(
        f"bins.n={n_bins}: discretised (one-hot) mode is not available yet; "
        "allowed: bins.n=0 (continuous)"
    )
