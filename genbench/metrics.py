"""Histogram divergences and sample distances, computed on device, and the
`Evaluator` that scores a run's samples with all of them (`METRICS`).

A new metric touches this module only: its function, its name in `METRICS`,
`METRIC_RANGES` and `METRIC_LABELS`, and its line in `Evaluator.score`. Every
metric is implemented once, here, and tested against an independent reference
in `tests/test_metrics.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float

if TYPE_CHECKING:
    from .encoding import AbstractEncoding
    from .targets import AbstractTarget

__all__ = [
    "METRICS",
    "METRIC_RANGES",
    "METRIC_LABELS",
    "KL_EPS",
    "scoring_edges",
    "histogram",
    "cell_shares",
    "kl_divergence",
    "reverse_kl",
    "js_divergence",
    "total_variation",
    "hellinger",
    "sort_floats",
    "wasserstein1",
    "sliced_wasserstein",
    "mmd_rbf",
    "median_bandwidth",
    "mode_shares",
    "modes_covered",
    "compat_kl",
    "state_index",
    "pattern_cells",
    "reverse_kl_states",
    "pattern_coverage",
    "Evaluator",
]

# Every metric of a run, in the order of metrics.json and history.csv.
METRICS = (
    "kl",  # KL(P||Q), the headline (the specification's definition)
    "kl_reverse",  # KL(Q||P)
    "js",  # Jensen-Shannon divergence
    "tv",  # total variation distance
    "hellinger",  # Hellinger distance
    "w1",  # Wasserstein-1 (sliced in 2D)
    "mmd",  # MMD^2, RBF kernel, median-heuristic bandwidth
    "kl_compat",  # KL as other published benchmark code computes it
    "modes",  # mixture targets: modes covered (see modes_covered)
    "far",  # mixture targets: share of samples beyond 3 sd of every mode
    "lost",  # share of samples outside the range or invalid
    "invalid",  # share of samples with no valid value or category
    "precision",  # bit-vector targets: share of samples that are valid patterns
    "coverage",  # bit-vector targets: share of valid patterns generated (see below)
)
# The range each metric's values lie in, and so the mean over seeds it
# estimates: intervals over seeds are cut to it (artifacts.t_interval). None
# as the upper end of `modes`: the target's number of modes.
METRIC_RANGES: dict[str, tuple[float, float | None]] = {
    "kl": (0.0, np.inf),
    "kl_reverse": (0.0, np.inf),
    "js": (0.0, float(np.log(2.0))),
    "tv": (0.0, 1.0),
    "hellinger": (0.0, 1.0),
    "w1": (0.0, np.inf),
    "mmd": (-np.inf, np.inf),  # the unbiased MMD^2 estimate can be negative
    "kl_compat": (0.0, np.inf),
    "modes": (0.0, None),
    "far": (0.0, 1.0),
    "lost": (0.0, 1.0),
    "invalid": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "coverage": (0.0, 1.0),
}
# Every metric's name in words, for figures and tables.
METRIC_LABELS: dict[str, str] = {
    "kl": "KL(P‖Q)",
    "kl_reverse": "KL(Q‖P)",
    "js": "Jensen-Shannon divergence",
    "tv": "total variation",
    "hellinger": "Hellinger distance",
    "w1": "Wasserstein-1",
    "mmd": "MMD²",
    "kl_compat": "KL (published code's estimate)",
    "modes": "modes covered",
    "far": "share of samples far from every mode",
    "lost": "share of samples lost",
    "invalid": "share of invalid samples",
    "precision": "pattern precision",
    "coverage": "pattern coverage",
}
KL_EPS = 1e-10  # the specification's epsilon in KL(P || Q) = sum P log(P / (Q + eps))
N_PROJECTIONS = 16  # directions of the sliced Wasserstein distance in 2D


def scoring_edges(
    edges: Sequence[np.ndarray], open_ends: bool = False
) -> list[np.ndarray]:
    """Edges per axis of the scoring grid: `edges`' cells plus an underflow cell
    `(-inf, e_0)` and an overflow cell `(e_n, inf)`, so that every finite value
    falls in exactly one cell and the exact cell probabilities sum to 1.

    `open_ends`: the edge cells of `edges` already reach to -inf and +inf (binned
    mode, where the encoding puts values beyond the range in the edge cells);
    then the added cells are empty (`(-inf, -inf)`, `(inf, inf)`) and both grids
    have the same `n + 2` cells per axis.
    """
    out = []
    for e in edges:
        e = np.asarray(e, dtype=float)
        if open_ends:
            e = np.concatenate([[-np.inf], e[1:-1], [np.inf]])
        out.append(np.concatenate([[-np.inf], e, [np.inf]]))
    return out


def histogram(
    x: Float[Array, "n dim"], edges: Sequence[np.ndarray]
) -> Float[Array, "..."]:
    """Share of the `n` samples in every cell of the grid given by `edges`.

    Normalised by all `n` samples: samples outside the grid or not finite are
    in no cell, so the result sums to the share of finite samples inside the
    grid. Cells are half-open `[e_k, e_k+1)`, except the last, which is closed
    (as `numpy.histogram`). Edges may be infinite (see `scoring_edges`).
    """
    n = x.shape[0]
    flat = jnp.zeros((n,), jnp.int32)
    inside = jnp.ones((n,), bool)
    for axis, e in enumerate(edges):
        e = jnp.asarray(e, x.dtype)
        xi = x[:, axis]
        idx = jnp.searchsorted(e, xi, side="right") - 1
        idx = jnp.where(xi == e[-1], e.shape[0] - 2, idx)
        inside &= (xi >= e[0]) & (xi <= e[-1]) & jnp.isfinite(xi)
        flat = flat * (e.shape[0] - 1) + jnp.clip(idx, 0, e.shape[0] - 2)
    shape = tuple(len(e) - 1 for e in edges)
    counts = jnp.zeros((int(np.prod(shape)),), x.dtype).at[flat].add(inside)
    return (counts / n).reshape(shape)


def cell_shares(
    x: Float[Array, "n dim"], edges: Sequence[np.ndarray]
) -> Float[Array, " cells"]:
    """The model's distribution Q over the scoring grid, flat, summing to 1.

    `edges` are a scoring grid's (`scoring_edges`: every finite value is in a
    cell); the result is its cells raveled, then one `invalid` cell holding the
    share of samples with a coordinate that is not finite (no valid value or
    category). The exact distribution P on the same cells has P = 0 there.
    """
    q = jnp.ravel(histogram(x, edges))
    invalid = jnp.mean(jnp.any(~jnp.isfinite(x), axis=1)).astype(q.dtype)
    return jnp.append(q, invalid)


def kl_divergence(p: Array, q: Array, eps: float = KL_EPS) -> Array:
    """KL(P || Q) = sum_i P_i log(P_i / (Q_i + eps)) over cells with P_i > 0.

    For P and Q that each sum to 1 this is >= -log(1 + cells * eps) (Gibbs'
    inequality with Q + eps), a few 1e-8 below 0 at most, and float rounding
    is of the same order: values below 0 are reported as 0. Cells with P_i below
    the smallest normal float count as 0: XLA on CPU flushes such subnormals to 0
    in arithmetic but not always in comparisons.
    """
    p, q = jnp.ravel(p), jnp.ravel(q)
    pos = p >= jnp.finfo(p.dtype).tiny
    safe_p = jnp.where(pos, p, 1.0)
    terms = jnp.where(pos, p * jnp.log(safe_p / (q + eps)), 0.0)
    return jnp.maximum(jnp.sum(terms), 0.0)


def sort_floats(x: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """`jnp.sort(x, axis)`: the same values in the same order (NaN last), sorted
    as integers.

    XLA's CPU sort calls a compiled comparator per comparison, and JAX's float
    comparator (a total order that puts NaN last) is several operations long;
    an integer sort compares directly. A float's bits, read as a sign-magnitude
    integer, order as the float does; flipping the magnitude bits of negative
    values makes that a two's complement order, and NaN gets the largest key.
    Only values that compare equal may change places: -0.0 and 0.0, and
    subnormals, which XLA's CPU comparison flushes to 0 and this sorts by value
    (the values differ by less than 1e-37).
    """
    ints = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[x.dtype.itemsize]
    top = jnp.iinfo(ints).max  # as a float's bits: a NaN

    def flip(i):  # its own inverse
        return jnp.where(i < 0, i ^ top, i)

    keys = jnp.where(jnp.isnan(x), top, flip(jax.lax.bitcast_convert_type(x, ints)))
    keys = jnp.sort(keys, axis=axis, stable=False)
    return jax.lax.bitcast_convert_type(flip(keys), x.dtype)


def wasserstein1(x: Float[Array, " n"], y: Float[Array, " m"]) -> Array:
    """Exact 1D Wasserstein-1 distance between the finite values of `x` and `y`.

    For equal sizes and no NaN this is `mean |sort(x) - sort(y)|`. NaN entries of
    `x` (samples with no valid value) are left out: the k finite values are
    compared with the quantiles of `y` at the same ranks.
    """
    return wasserstein1_sorted(x, sort_floats(y))


def wasserstein1_sorted(x: Float[Array, " n"], ys: Float[Array, " m"]) -> Array:
    """`wasserstein1(x, y)` with `ys = sort(y)` given (sort a fixed reference once)."""
    y = ys
    xs = sort_floats(x)  # NaN sorts last
    k = jnp.sum(jnp.isfinite(x))
    ranks = jnp.arange(x.shape[0])
    idx = jnp.floor((ranks + 0.5) / k * y.shape[0]).astype(jnp.int32)
    diff = jnp.abs(xs - ys[jnp.clip(idx, 0, y.shape[0] - 1)])
    return jnp.sum(jnp.where(ranks < k, diff, 0.0)) / k


def projections(dim: int, n: int = N_PROJECTIONS) -> Array:
    """Fixed unit directions for the sliced distance (deterministic)."""
    if dim == 1:
        return jnp.ones((1, 1))
    if dim == 2:
        angles = jnp.pi * jnp.arange(n) / n
        return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    d = jr.normal(jr.key(0), (n, dim))
    return d / jnp.linalg.norm(d, axis=1, keepdims=True)


def sliced_wasserstein(x: Float[Array, "n dim"], y: Float[Array, "m dim"]) -> Array:
    """Mean Wasserstein-1 over fixed projections; equals W1 exactly in 1D."""
    return sliced_wasserstein_sorted(x, sorted_projections(y))


def sorted_projections(y: Float[Array, "m dim"]) -> Float[Array, "p m"]:
    """The reference sample projected on the fixed directions, each sorted."""
    return sort_floats(y @ projections(y.shape[1]).T, axis=0).T


def sliced_wasserstein_sorted(
    x: Float[Array, "n dim"], ref: Float[Array, "p m"]
) -> Array:
    """`sliced_wasserstein(x, y)` with `ref = sorted_projections(y)`."""
    dirs = projections(x.shape[1])
    return jnp.mean(jax.vmap(lambda u, ys: wasserstein1_sorted(x @ u, ys))(dirs, ref))


# --- more divergences between histograms ----------------------------------------


def reverse_kl(p: Array, q: Array, eps: float = KL_EPS) -> Array:
    """KL(Q || P) = sum_i Q_i log(Q_i / (P_i + eps)): punishes mass where P has none."""
    return kl_divergence(q, p, eps)


def js_divergence(p: Array, q: Array) -> Array:
    """Jensen-Shannon divergence (natural log, in [0, log 2]) of two histograms."""
    p, q = jnp.ravel(p), jnp.ravel(q)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, 0.0) + 0.5 * kl_divergence(q, m, 0.0)


def total_variation(p: Array, q: Array) -> Array:
    """Total variation distance: half the L1 distance of the cell probabilities."""
    return 0.5 * jnp.sum(jnp.abs(jnp.ravel(p) - jnp.ravel(q)))


def hellinger(p: Array, q: Array) -> Array:
    """Hellinger distance sqrt(1 - sum sqrt(P Q)) (0 equal, 1 disjoint).

    Computed as sqrt(sum (sqrt P - sqrt Q)^2 / 2), the same value for P and Q
    that sum to 1, without the cancellation in 1 - sum sqrt(PQ) (float32
    rounding there gives 2e-4 for P = Q).
    """
    a = jnp.sqrt(jnp.clip(jnp.ravel(p), 0))
    b = jnp.sqrt(jnp.clip(jnp.ravel(q), 0))
    return jnp.sqrt(0.5 * jnp.sum((a - b) ** 2))


# --- sample-based --------------------------------------------------------------

MMD_SAMPLES = 1000  # MMD uses the first this many samples of each side: O(n^2)


def median_bandwidth(y: Float[Array, "m dim"]) -> Array:
    """The median heuristic: the median distance between distinct reference points."""
    d = jnp.sqrt(jnp.sum((y[:, None] - y[None]) ** 2, axis=-1))
    return jnp.median(d[np.triu_indices(y.shape[0], 1)])


def mmd_rbf(x: Float[Array, "n dim"], y: Float[Array, "m dim"], bandwidth) -> Array:
    """Unbiased MMD^2 with the RBF kernel exp(-|a - b|^2 / (2 bandwidth^2)).

    Rows of `x` that are not finite are left out. Can be slightly negative.
    """
    ok = jnp.all(jnp.isfinite(x), axis=1)
    x = jnp.where(ok[:, None], x, 0.0)

    def k(a, b):
        d2 = jnp.sum((a[:, None] - b[None]) ** 2, axis=-1)
        return jnp.exp(-d2 / (2 * bandwidth**2))

    n_ok = jnp.sum(ok)
    m = y.shape[0]
    w = ok[:, None] & ok[None, :] & ~jnp.eye(x.shape[0], dtype=bool)
    kxx = jnp.sum(jnp.where(w, k(x, x), 0.0)) / (n_ok * (n_ok - 1))
    kyy = (jnp.sum(k(y, y)) - m) / (m * (m - 1))
    kxy = jnp.sum(jnp.where(ok[:, None], k(x, y), 0.0)) / (n_ok * m)
    return kxx + kyy - 2 * kxy


MODE_MASS = 0.5  # a covered mode holds >= half the target's share within 1 sd


def mode_shares(
    x: Float[Array, "n dim"], means: np.ndarray, covs: np.ndarray
) -> tuple[Array, Array, Array]:
    """Shares of samples near each mode, by nearest mode.

    Each sample belongs to the mode nearest in Mahalanobis distance (with that
    mode's covariance). Returns `(within 1 sd, within 3 sd, far)`: per mode, the
    share of all samples that belong to it at distance <= 1 and <= 3, and the
    share at distance > 3 from every mode. Non-finite samples count as far.
    """
    prec = jnp.asarray(np.linalg.inv(covs), x.dtype)
    diff = x[:, None, :] - jnp.asarray(means, x.dtype)[None]
    d2 = jnp.einsum("nki,kij,nkj->nk", diff, prec, diff)
    d2 = jnp.where(jnp.isfinite(d2), d2, jnp.inf)
    nearest = jnp.argmin(d2, axis=1)
    dmin = jnp.min(d2, axis=1)
    k = means.shape[0]

    def share(inside):
        return jnp.zeros(k, x.dtype).at[nearest].add(inside) / x.shape[0]

    within3 = share(dmin <= 9.0)
    # far counted directly: 1 - sum(within3) rounds to -6e-8 when nothing is far
    far = jnp.mean((dmin > 9.0).astype(x.dtype))
    return share(dmin <= 1.0), within3, far


def modes_covered(
    within1: Array, within3: Array, target1: Array, target3: Array, dim: int
) -> Array:
    """Which modes the samples cover (booleans per mode), from `mode_shares` of
    the samples (`within1`, `within3`) and of the target (`target1`, `target3`).

    A mode is covered when (a) the samples' share within 1 sd of it is at least
    `MODE_MASS` (half) of the target's share there, and (b) the samples there
    are shaped like a mode: their share within 1 sd over their share within
    3 sd is at least halfway from a locally flat density's ratio (the volume
    ratio of the two balls, 1/3 in 1D, 1/9 in 2D) to the target's own ratio. A
    flat floor or a broad blob over the mode passes (a) but not (b).
    """
    flat = (1.0 / 3.0) ** dim
    threshold = 0.5 * (target1 / target3 + flat)
    mass = within1 >= MODE_MASS * target1
    shape = (within3 > 0) & (within1 >= threshold * within3)
    return mass & shape


def compat_kl(
    x: Float[Array, "n dim"],
    y: Float[Array, "m dim"],
    n_bins: int = 16,
    eps: float = 1e-6,
) -> Array:
    """KL as other published benchmark code computes it (for comparison only).

    Histograms of the true samples `y` (P) and model samples `x` (Q) with
    `n_bins` cells per axis over the range of the true samples, each normalised,
    `eps` added to every cell of both, renormalised; then sum P log(P / Q).
    """
    lo = jnp.min(y, axis=0)
    hi = jnp.max(y, axis=0)

    def hist(a):
        idx = jnp.floor((a - lo) / (hi - lo) * n_bins).astype(jnp.int32)
        idx = jnp.where(a == hi, n_bins - 1, idx)
        inside = jnp.all((idx >= 0) & (idx < n_bins) & jnp.isfinite(a), axis=1)
        flat = jnp.zeros(a.shape[0], jnp.int32)
        for axis in range(a.shape[1]):
            flat = flat * n_bins + jnp.clip(idx[:, axis], 0, n_bins - 1)
        c = jnp.zeros(n_bins ** a.shape[1]).at[flat].add(inside)
        c = c / jnp.maximum(jnp.sum(c), 1.0) + eps
        return c / jnp.sum(c)

    p, q = hist(y), hist(x)
    return jnp.sum(p * jnp.log(p / q))


class Evaluator:
    """Scores samples against the target's exact cell probabilities, on device.

    Continuous mode scores on the target's histogram grid (`hist_bins` cells per
    axis), binned mode on the encoding's own grid; both grids get an underflow
    and an overflow cell per axis and an `invalid` cell (`metrics.scoring_edges`,
    `metrics.cell_shares`), so that the exact P and the model's Q each sum to 1.
    In binned mode the range's edge cells hold the tails (as the encoding puts
    them there) and the added cells are empty.
    """

    def __init__(
        self,
        target: AbstractTarget,
        encoding: AbstractEncoding | None = None,
        hist_bins: int | None = None,
    ):
        self.target = target
        self.encoding = encoding
        self.binned = binned = encoding is not None and encoding.binned
        # in-range cells: what the figures show
        self.edges = list(encoding.edges) if binned else target.hist_edges(hist_bins)
        self.cell_edges = scoring_edges(self.edges, open_ends=binned)
        cells = np.asarray(target.bin_probs(self.cell_edges), dtype=float)
        self.cells_shape = cells.shape
        self.p_cells = np.append(cells.ravel(), 0.0)  # the invalid cell: P = 0
        self.p = cells[(slice(1, -1),) * cells.ndim]
        self.n_modes = 0 if target.modes is None else len(target.modes)

    def in_range(self, cells: jax.Array) -> jax.Array:
        """The in-range cells (`*cells`) of a flat scoring-grid vector."""
        grid = cells[:-1].reshape(self.cells_shape)
        return grid[(slice(1, -1),) * grid.ndim]

    def true_samples(self, n: int, key: jax.Array, of_p: bool = False) -> jax.Array:
        """`n` true samples (`of_p`: of P, the target's `reference_sample`); in
        binned mode quantised to their cell centres like the models' samples, so
        that sample distances measure the model, not the grid."""
        draw = self.target.reference_sample if of_p else self.target.sample
        x = draw(key, n)
        if self.binned:
            x = self.encoding.decode(self.encoding.encode(x), None, "states")
        return x

    def reference(self, n: int) -> dict[str, jax.Array]:
        """`n` true samples with a fixed key (the same for every seed and snapshot),
        prepared once: sorted projections for W1, a subsample and bandwidth for
        MMD, and for a mixture the target's shares within 1 and 3 sd of each
        mode, scored as the models' samples are (so overlapping modes count
        alike on both sides).
        """
        x = self.true_samples(n, jr.key(20240601), of_p=True)
        sub = x[:MMD_SAMPLES]
        ref = {
            "all": x,
            "sorted": sorted_projections(x),
            "sub": sub,
            "bandwidth": median_bandwidth(sub[:256]),
        }
        if self.n_modes:  # the target's own shares near each mode (modes_covered)
            t = self.target
            ref["modes"] = mode_shares(x, t.modes, t.mode_covs)[:2]
        return ref

    def floor_samples(self, n: int) -> jax.Array:
        """True samples independent of the reference: a perfect model's output."""
        return self.true_samples(n, jr.key(20240602))

    def score(self, x: jax.Array, ref: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Every metric of one seed's data-space samples `x` (n, dim), and
        `hist`, the in-range cells of Q."""
        q = cell_shares(x, self.cell_edges)
        p = jnp.asarray(self.p_cells, q.dtype)
        inside = self.in_range(q)
        nan = jnp.full((), jnp.nan, q.dtype)
        out = {
            "kl": kl_divergence(p, q),
            "kl_reverse": reverse_kl(p, q),
            "js": js_divergence(p, q),
            "tv": total_variation(p, q),
            "hellinger": hellinger(p, q),
            "w1": sliced_wasserstein_sorted(x, ref["sorted"]),
            "mmd": mmd_rbf(x[:MMD_SAMPLES], ref["sub"], ref["bandwidth"]),
            "kl_compat": compat_kl(x, ref["all"]),
            "modes": nan,
            "far": nan,
            "lost": 1.0 - jnp.sum(inside),
            "invalid": q[-1],
            "precision": nan,  # bit-vector targets only (patterns.PatternEvaluator)
            "coverage": nan,
            "hist": inside,
        }
        t = self.target
        if self.n_modes:
            within1, within3, far = mode_shares(x, t.modes, t.mode_covs)
            target1, target3 = ref["modes"]
            covered = modes_covered(within1, within3, target1, target3, t.dim)
            out["modes"] = jnp.sum(covered).astype(q.dtype)
            out["far"] = far
        return out


# --- bit vectors ----------------------------------------------------------------


def state_index(x: Float[Array, "n bits"]) -> tuple[Array, Array]:
    """State index of every row of 0/1 values (bit j worth 2^(bits-1-j); a value
    counts as 1 above 0.5) and whether the row is finite. Returns `(index (n,)
    int32, finite (n,) bool)`; rows that are not finite get index -1. At most
    30 bits (int32)."""
    finite = jnp.all(jnp.isfinite(x), axis=1)
    weights = jnp.asarray(2 ** np.arange(x.shape[1] - 1, -1, -1), jnp.int32)
    idx = jnp.sum(jnp.where(x > 0.5, weights, 0), axis=1).astype(jnp.int32)
    return jnp.where(finite, idx, -1), finite


def _pattern_hits(x, valid_index: np.ndarray):
    """Per row: position among the valid patterns (`valid_index`, ascending
    state indices), whether it is one, whether it is finite, its state index."""
    idx, finite = state_index(x)
    valid = jnp.asarray(valid_index, jnp.int32)
    pos = jnp.clip(jnp.searchsorted(valid, idx), 0, valid.shape[0] - 1)
    hit = finite & (valid[pos] == idx)
    return pos, hit, finite, idx


def pattern_cells(
    x: Float[Array, "n bits"], valid_index: np.ndarray
) -> Float[Array, " cells"]:
    """The model's distribution Q over all `2^bits` states, as cells summing to 1:
    the share of samples on each valid pattern (`valid_index`: their state
    indices, ascending; `k` cells), then one cell for every other state together,
    then one `invalid` cell (rows that are not finite).

    A target's P is 0 on the other states, so KL(P||Q), JS, TV and Hellinger over
    these cells equal their sums over all states (each term of a state with P = 0
    is linear in its Q); the reverse KL is not, see `reverse_kl_states`.
    """
    pos, hit, finite, _ = _pattern_hits(x, valid_index)
    n = x.shape[0]
    q = jnp.zeros(len(valid_index), x.dtype).at[pos].add(hit.astype(x.dtype)) / n
    other = jnp.mean((finite & ~hit).astype(x.dtype))
    invalid = jnp.mean((~finite).astype(x.dtype))
    return jnp.concatenate([q, jnp.stack([other, invalid])])


def reverse_kl_states(
    x: Float[Array, "n bits"],
    valid_index: np.ndarray,
    p_valid: np.ndarray,
    eps: float = KL_EPS,
) -> Array:
    """KL(Q || P) = sum_s Q_s log(Q_s / (P_s + eps)) over all `2^bits` states and
    the `invalid` cell (as `reverse_kl` over a grid), Q the samples' shares.

    The states off P's support are not tabulated: each such sample adds
    `log(Q_s / eps) / n`, with Q_s its state's count (from the sorted indices)
    over n, which sums to Q_s log(Q_s / eps) per state.
    """
    pos, hit, finite, idx = _pattern_hits(x, valid_index)
    n = x.shape[0]
    cells = pattern_cells(x, valid_index)
    p = jnp.asarray(np.append(p_valid, [0.0, 0.0]), x.dtype)
    q_valid, invalid = cells[:-2], cells[-1]
    pv = p[:-2]
    on = q_valid > 0
    valid_terms = jnp.sum(
        jnp.where(on, q_valid * jnp.log(jnp.where(on, q_valid, 1.0) / (pv + eps)), 0.0)
    )
    other = finite & ~hit
    key = jnp.where(other, idx, -2)  # -2: not an other-state sample
    ordered = jnp.sort(key)
    count = jnp.searchsorted(ordered, key, side="right") - jnp.searchsorted(
        ordered, key, side="left"
    )
    share = count.astype(x.dtype) / n
    other_terms = (
        jnp.sum(jnp.where(other, jnp.log(jnp.where(other, share, 1.0) / eps), 0.0)) / n
    )
    inv_term = jnp.where(
        invalid > 0, invalid * jnp.log(jnp.where(invalid > 0, invalid, 1.0) / eps), 0.0
    )
    return jnp.maximum(valid_terms + other_terms + inv_term, 0.0)


def pattern_coverage(
    x: Float[Array, "n bits"], valid_index: np.ndarray, n_first: int
) -> Array:
    """Coverage: the share of the `k` valid patterns (`valid_index`) that occur
    at least once among the first `n_first` rows of `x`."""
    pos, hit, _, _ = _pattern_hits(x[:n_first], valid_index)
    seen = jnp.zeros(len(valid_index), jnp.int32).at[pos].max(hit.astype(jnp.int32))
    return jnp.mean(seen.astype(x.dtype))
