"""A target from outside genbench: uniform on two squares (2D)."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np

from genbench import ConfigError
from genbench.targets import AbstractTarget


class TwoSquares(AbstractTarget):
    """Equal mass, uniform, on the squares of side `side` centred at +-`offset`
    on the diagonal; exact cells are overlap areas."""

    dim = 2

    def __init__(self, name: str, offset: float = 1.5, side: float = 1.0):
        if side <= 0:
            raise ConfigError(f"target.side={side!r} is not allowed: must be > 0")
        self.name, self.offset, self.side = name, offset, side
        half = offset + side / 2
        self.bounds = ((-half - 0.5, half + 0.5),) * 2
        self.default_hist_bins = 30

    def sample(self, key, n):
        ks, ku = jr.split(key)
        sign = jnp.where(jr.bernoulli(ks, 0.5, (n, 1)), 1.0, -1.0)
        return sign * self.offset + (jr.uniform(ku, (n, 2)) - 0.5) * self.side

    def mean(self):
        return np.zeros(2)

    def std(self):
        return np.full(2, np.sqrt(self.offset**2 + self.side**2 / 12))

    def bin_probs(self, edges):
        def share(e, centre):  # per axis: the part of [centre -+ side/2] per cell
            lo, hi = centre - self.side / 2, centre + self.side / 2
            return np.diff(np.clip(e, lo, hi)) / self.side

        return sum(
            0.5 * np.outer(share(edges[0], c), share(edges[1], c))
            for c in (-self.offset, self.offset)
        )
