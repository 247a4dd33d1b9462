"""Scoring of bit-vector targets (`targets.AbstractBinaryTarget`), on device.

`PatternEvaluator` is the `metrics.Evaluator` of a bit-vector target: the same
methods and the same metrics (`metrics.METRICS`), scored over all `2^bits`
states instead of the cells of a grid. P is exact (uniform over the valid
patterns); Q is the samples' shares. The cells are the valid patterns, every
other state together, and `invalid` (`metrics.pattern_cells`), which gives
KL(P||Q), JS, TV and Hellinger exactly as sums over all states; the reverse KL
counts the other states one by one (`metrics.reverse_kl_states`). Beside them:
`precision`, the share of samples that are valid patterns, and `coverage`, the
share of valid patterns among the first `target.coverage_samples` samples.
`w1` is the sliced Wasserstein-1 distance between bit vectors (16 fixed random
directions), `mmd` the RBF MMD^2; `kl_compat` (a 16-cell-per-axis grid), `modes`
and `far` do not apply and are NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .metrics import (
    MMD_SAMPLES,
    hellinger,
    js_divergence,
    kl_divergence,
    median_bandwidth,
    mmd_rbf,
    pattern_cells,
    pattern_coverage,
    reverse_kl_states,
    sliced_wasserstein_sorted,
    sorted_projections,
    total_variation,
)

__all__ = ["PatternEvaluator"]


class PatternEvaluator:
    """Scores bit-vector samples `(n, bits)` against a binary target's patterns.

    `p` is P of the valid patterns `(k,)` (in the order of
    `target.pattern_index()`), and the `hist` a score returns is Q on them: what
    the figures show. Raises ValueError from `reference` for an evaluation of
    fewer samples than `target.coverage_samples`.
    """

    edges = None  # no histogram grid
    n_modes = 0

    def __init__(self, target, encoding=None):
        self.target = target
        self.encoding = encoding
        self.valid_index = target.pattern_index()
        self.p = target.pattern_probs()
        self.p_cells = np.append(self.p, [0.0, 0.0])  # other states, invalid

    def true_samples(self, n: int, key: jax.Array, of_p: bool = False) -> jax.Array:
        draw = self.target.reference_sample if of_p else self.target.sample
        return draw(key, n)

    def reference(self, n: int) -> dict[str, jax.Array]:
        """`n` true samples with a fixed key, prepared once (see `Evaluator`)."""
        m = self.target.coverage_samples
        if n < m:
            raise ValueError(
                f"train.eval_samples or train.snapshot_eval_samples = {n} is not "
                f"allowed with target {self.target.name!r}: coverage counts the "
                f"first target.coverage_samples={m} samples of an evaluation; use "
                f">= {m} (or a smaller target.coverage_samples)"
            )
        x = self.true_samples(n, jr.key(20240601), of_p=True)
        sub = x[:MMD_SAMPLES]
        return {
            "sorted": sorted_projections(x),
            "sub": sub,
            "bandwidth": median_bandwidth(sub[:256]),
        }

    def floor_samples(self, n: int) -> jax.Array:
        return self.true_samples(n, jr.key(20240602))

    def score(self, x: jax.Array, ref: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Every metric of one seed's samples `x` (n, bits), and `hist`: Q of
        the valid patterns."""
        q = pattern_cells(x, self.valid_index)
        p = jnp.asarray(self.p_cells, q.dtype)
        nan = jnp.full((), jnp.nan, q.dtype)
        valid = q[:-2]
        return {
            "kl": kl_divergence(p, q),
            "kl_reverse": reverse_kl_states(x, self.valid_index, self.p),
            "js": js_divergence(p, q),
            "tv": total_variation(p, q),
            "hellinger": hellinger(p, q),
            "w1": sliced_wasserstein_sorted(x, ref["sorted"]),
            "mmd": mmd_rbf(x[:MMD_SAMPLES], ref["sub"], ref["bandwidth"]),
            "kl_compat": nan,
            "modes": nan,
            "far": nan,
            "lost": q[-1],  # no range to leave: only rows with no value are lost
            "invalid": q[-1],
            "precision": jnp.sum(valid),
            "coverage": pattern_coverage(
                x, self.valid_index, self.target.coverage_samples
            ),
            "hist": valid,
        }
