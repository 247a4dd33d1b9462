"""Cheap uniform and Bernoulli draws for the RBM's hidden units.

JAX's default PRNG (threefry, 20 rounds per 64 bits) dominates an RBM step on CPU:
one 256 x 800 Bernoulli draw costs as much as the rest of the step. Here each draw
is a counter-based hash instead: two rounds of the MurmurHash3 finaliser over the
element's index, keyed by 64 bits taken from a JAX key. The key discipline is
unchanged (every call takes its own key), streams of different keys are
unrelated, and the result is a 24-bit uniform: about 7x faster on CPU and good
for Monte Carlo (tests check moments and neighbour correlations).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["uniform", "bernoulli"]


def _fmix32(x: Array) -> Array:
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def uniform(key: PRNGKeyArray, shape: tuple[int, ...], impl: str = "hash") -> Array:
    """Uniform [0, 1) floats; `impl="threefry"` falls back to `jax.random.uniform`."""
    if impl == "threefry":
        return jr.uniform(key, shape)
    if impl != "hash":
        raise ValueError(f"model.rng={impl!r} is not allowed; use 'hash' or 'threefry'")
    seed = jr.bits(key, (2,), jnp.uint32)
    index = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    x = _fmix32(_fmix32(index * jnp.uint32(0x9E3779B9) + seed[0]) ^ seed[1])
    return (x >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def bernoulli(key: PRNGKeyArray, p: Float[Array, "..."], impl: str = "hash") -> Array:
    """0/1 floats with P(1) = p, elementwise."""
    return (uniform(key, p.shape, impl) < p).astype(p.dtype)
