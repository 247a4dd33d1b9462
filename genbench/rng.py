"""Cheap uniform, Bernoulli, normal and Gumbel draws for the models' training steps.

JAX's default PRNG (threefry, 20 rounds per 64 bits, lowered as a rolled loop on
CPU) dominates small models' steps: a Bernoulli draw over an RBM's hidden units
costs about as much as the rest of its step (measured figures: README, *Speed*).
Here each draw is a counter-based hash instead: two rounds of the MurmurHash3
finaliser over the element's index, keyed by 64 bits taken from a JAX key. The
key discipline is unchanged (every call takes its own key), streams of different
keys are unrelated, and the result is a 24-bit uniform: much cheaper on CPU and
good for Monte Carlo (tests check moments, neighbour correlations and the normal
and Gumbel distributions against scipy). Only the 64-bit seed of a draw comes
from threefry (`jax.random.bits` on two words).

The families' `model.rng` selects `hash` (default) or `threefry` (JAX's own
`jax.random` functions) for every draw of their training steps and samplers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["uniform", "bernoulli", "normal", "gumbel", "IMPLS"]

IMPLS = ("hash", "threefry")


def _fmix32(x: Array) -> Array:
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def uniform(key: PRNGKeyArray, shape: tuple[int, ...], impl: str = "hash") -> Array:
    """Uniform [0, 1) floats; `impl="threefry"` falls back to `jax.random.uniform`."""
    _check(impl)
    if impl == "threefry":
        return jr.uniform(key, shape)
    return _hash24(key, shape).astype(jnp.float32) * (1.0 / (1 << 24))


def _check(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"model.rng={impl!r} is not allowed; use 'hash' or 'threefry'")


def _hash24(key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
    """24 random bits per element, as uint32 in [0, 2^24)."""
    seed = jr.bits(key, (2,), jnp.uint32)
    index = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    x = _fmix32(_fmix32(index * jnp.uint32(0x9E3779B9) + seed[0]) ^ seed[1])
    return x >> 8


def open_unit(bits24: Array) -> Array:
    """Uniform on the open interval (0, 1) from 24 random bits: the midpoints of a
    2^23-cell grid (23 bits: with 24, the top midpoint 1 - 2^-25 rounds to 1.0 in
    float32, and the inverse normal CDF of 1 is infinite)."""
    x = (bits24 >> 1).astype(jnp.float32)
    return (x + 0.5) * (1.0 / (1 << 23))


def _open_uniform(key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
    return open_unit(_hash24(key, shape))


def normal(key: PRNGKeyArray, shape: tuple[int, ...], impl: str = "hash") -> Array:
    """Standard normal floats (inverse CDF of an open uniform, as jax.random does)."""
    _check(impl)
    if impl == "threefry":
        return jr.normal(key, shape)
    u = _open_uniform(key, shape)
    return jnp.float32(math.sqrt(2.0)) * jax.lax.erf_inv(2.0 * u - 1.0)


def gumbel(key: PRNGKeyArray, shape: tuple[int, ...], impl: str = "hash") -> Array:
    """Standard Gumbel floats, -log(-log(u))."""
    _check(impl)
    if impl == "threefry":
        return jr.gumbel(key, shape)
    return -jnp.log(-jnp.log(_open_uniform(key, shape)))


def logistic(key: PRNGKeyArray, shape: tuple[int, ...], impl: str = "hash") -> Array:
    """Standard logistic floats, log(u) - log(1 - u): `logit + logistic > 0` is a
    Bernoulli draw with P(1) = sigmoid(logit)."""
    _check(impl)
    if impl == "threefry":
        return jr.logistic(key, shape)
    u = _open_uniform(key, shape)
    return jnp.log(u) - jnp.log1p(-u)


def bernoulli(key: PRNGKeyArray, p: Float[Array, "..."], impl: str = "hash") -> Array:
    """0/1 floats with P(1) = p, elementwise."""
    return (uniform(key, p.shape, impl) < p).astype(p.dtype)
