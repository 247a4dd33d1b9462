"""Encodings between data space and the space the models see.

One object owns the transformation both ways, so that training data, decoded
samples and scoring can never disagree:

- `Standardise` (continuous mode, `bins.n=0`): `(x - mean) / std` per axis, with the
  target's analytic moments.
- `OneHotBins` (binned mode, `bins.n=N`): each axis is cut into N cells over the
  target's `bounds` (Poisson: cells aligned to the integers); a sample becomes one
  one-hot block of N units per axis (2D: 2N units, decoded per axis and scored on
  the joint N x N grid). Samples beyond the range fall into the edge cells, and the
  exact cell probabilities used for scoring count the tails there too.
- `Bits` (bit-vector targets, `targets.AbstractBinaryTarget`): the bits as they
  are; the models' units are Bernoulli and their samples are bit vectors.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import rng
from .metrics import scoring_edges

__all__ = [
    "AbstractEncoding",
    "Standardise",
    "OneHotBins",
    "Bits",
    "DECODE_MODES",
    "categorical",
    "make_encoding",
]

DECODE_MODES = ("hard", "soft", "sample")


class AbstractEncoding(abc.ABC):
    """Maps data (`n dim`) to model space (`n model_dim`) and back.

    A subclass defines `mode` (its name in metrics.json), `model_dim`, `encode`,
    `decode`, `decode_label`, and `bits` and `binned`, which tell the code that
    builds, scores and draws a run what it is handling (no code asks which
    encoding it has).
    """

    mode: str
    model_dim: int

    @property
    @abc.abstractmethod
    def bits(self) -> bool:
        """The data are bit vectors, seen as they are: the families' units are
        Bernoulli, samples are 0/1 states, scored as patterns (no cell grid)."""

    @property
    @abc.abstractmethod
    def binned(self) -> bool:
        """Samples are the centres of the encoding's own cells (`edges`): they
        are scored on that grid, with the true samples quantised alike, and
        drawn as cells."""

    @abc.abstractmethod
    def decode_label(self, kind: str) -> str | None:
        """How `decode` turns samples of `kind` (`AbstractFamily.output_kind`)
        into positions, for metrics.json; None where there is no choice."""

    @abc.abstractmethod
    def encode(self, x: Float[Array, "n dim"]) -> Float[Array, "n model_dim"]: ...

    @abc.abstractmethod
    def decode(
        self, y: Float[Array, "n model_dim"], key: PRNGKeyArray, kind: str = "logits"
    ) -> Float[Array, "n dim"]:
        """Model output to data space; NaN rows are samples with no valid category."""


@dataclass(frozen=True, eq=False)
class Standardise(AbstractEncoding):
    """Continuous mode: `(x - mean) / std` per axis."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    mode: str = "continuous"
    bits: ClassVar[bool] = False
    binned: ClassVar[bool] = False

    def decode_label(self, kind):
        return None

    @property
    def model_dim(self) -> int:  # type: ignore[override]
        return len(self.mean)

    def encode(self, x):
        return (x - jnp.asarray(self.mean)) / jnp.asarray(self.std)

    def decode(self, y, key=None, kind="values"):
        return y * jnp.asarray(self.std) + jnp.asarray(self.mean)


@dataclass(frozen=True, eq=False)
class OneHotBins(AbstractEncoding):
    """Binned mode: one one-hot block of `n_bins` units per axis.

    `decode_mode` turns per-block logits into positions: `hard` (argmax -> cell
    centre), `soft` (expected position under the softmax) or `sample` (a cell drawn
    from the softmax -> its centre). Model outputs that are states (an RBM's
    visible units) decode to the centre of the one unit that is on; a block with no
    unit or several units on has no valid category and decodes to NaN.
    """

    edges: tuple[np.ndarray, ...]
    decode_mode: str = "hard"
    mode: str = "binned"
    bits: ClassVar[bool] = False
    binned: ClassVar[bool] = True

    def decode_label(self, kind):
        if kind == "states":
            return "states (the model samples one-hot units)"
        return self.decode_mode

    @property
    def n_bins(self) -> int:
        return len(self.edges[0]) - 1

    @property
    def dim(self) -> int:
        return len(self.edges)

    @property
    def model_dim(self) -> int:  # type: ignore[override]
        return self.n_bins * self.dim

    @property
    def centres(self) -> np.ndarray:
        """Cell centres, shape `(dim, n_bins)`."""
        return np.stack([(e[:-1] + e[1:]) / 2 for e in self.edges])

    def index(self, x: Float[Array, "n dim"]) -> Array:
        """Cell index per axis, `(n, dim)`; values beyond the range go to edge cells."""
        cols = []
        for axis, e in enumerate(self.edges):
            inner = jnp.asarray(e[1:-1], x.dtype)
            # compare_all: a few dozen edges; the default binary search is a loop
            where = jnp.searchsorted(
                inner, x[:, axis], side="right", method="compare_all"
            )
            cols.append(where)
        return jnp.stack(cols, axis=1)

    def encode(self, x):
        onehot = jax.nn.one_hot(self.index(x), self.n_bins, dtype=x.dtype)
        return onehot.reshape(x.shape[0], self.model_dim)

    def blocks(self, y: Array) -> Array:
        return y.reshape(y.shape[0], self.dim, self.n_bins)

    def decode(self, y, key, kind="logits"):
        y = self.blocks(y)
        centres = jnp.asarray(self.centres, y.dtype)
        if kind == "states":
            valid = jnp.sum(y, axis=-1) == 1
            pos = jnp.sum(y * centres, axis=-1)
            return jnp.where(valid, pos, jnp.nan)
        if self.decode_mode == "hard":
            idx = jnp.argmax(y, axis=-1)
        elif self.decode_mode == "soft":
            return jnp.sum(jax.nn.softmax(y, axis=-1) * centres, axis=-1)
        elif self.decode_mode == "sample":
            idx = categorical(key, y)
        else:
            raise ValueError(
                f"bins.decode={self.decode_mode!r}; allowed {DECODE_MODES}"
            )
        return jnp.take_along_axis(
            jnp.broadcast_to(centres, y.shape), idx[..., None], axis=-1
        )[..., 0]

    def bin_probs(self, target) -> np.ndarray:
        """Exact probability of every cell of the grid, tails counted in edge cells.

        The in-range cells of the scoring grid (`metrics.scoring_edges` with
        open ends), the same code as the evaluation's P.
        """
        cells = np.asarray(target.bin_probs(scoring_edges(self.edges, True)))
        return cells[(slice(1, -1),) * cells.ndim]


@dataclass(frozen=True, eq=False)
class Bits(AbstractEncoding):
    """Bit vectors (`n_bits` 0/1 values) as they are: the models see the bits and
    their units are Bernoulli (families built with `bernoulli=True`), so what they
    sample are states, returned unchanged."""

    n_bits: int
    mode: str = "binary"
    bits: ClassVar[bool] = True
    binned: ClassVar[bool] = False

    def decode_label(self, kind):
        return None

    @property
    def model_dim(self) -> int:  # type: ignore[override]
        return self.n_bits

    def encode(self, x):
        return x

    def decode(self, y, key=None, kind="states"):
        if kind != "states":
            raise ValueError(
                f"Bits decodes sampled states, not {kind!r}: a family built with "
                "bernoulli=True samples bits"
            )
        return y


def categorical(key: PRNGKeyArray, logits: Float[Array, "... k"], impl="hash") -> Array:
    """Index drawn from softmax(logits) along the last axis (inverse CDF)."""
    probs = jax.nn.softmax(logits, axis=-1)
    u = rng.uniform(key, probs.shape[:-1] + (1,), impl)
    idx = jnp.sum(jnp.cumsum(probs, axis=-1) < u, axis=-1)
    return jnp.minimum(idx, logits.shape[-1] - 1)


def make_encoding(target, n_bins: int, decode: str = "hard") -> AbstractEncoding:
    """The encoding of `target`'s data for `bins.n = n_bins` (0: continuous), or
    the target's own (`data_encoding`: bit vectors)."""
    own = target.data_encoding(n_bins, decode)
    if own is not None:
        return own
    if n_bins == 0:
        return Standardise(
            tuple(np.asarray(target.mean(), float).tolist()),
            tuple(np.asarray(target.std(), float).tolist()),
        )
    if n_bins < 2:
        raise ValueError(f"bins.n={n_bins} is not allowed: 0 (continuous) or >= 2")
    if decode not in DECODE_MODES:
        raise ValueError(
            f"bins.decode={decode!r} is not allowed: one of {DECODE_MODES}"
        )
    note = target.binning_note(n_bins)
    if note:
        logging.getLogger("genbench").warning(note)
    return OneHotBins(tuple(target.bin_edges(n_bins)), decode)
