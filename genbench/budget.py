"""Parameter budgets: count a built model's parameters, solve the hidden width.

Counts come from building the model abstractly (`eqx.filter_eval_shape`, no memory
or compute) and summing the sizes of its array leaves, so they cannot drift from
the code the way a hand formula can.
"""

from __future__ import annotations

import math
from functools import lru_cache

import equinox as eqx
import jax
import jax.random as jr

__all__ = ["BudgetError", "count_params", "solve_hidden"]

MAX_HIDDEN = 1 << 22
# budget.scope: every trained parameter, or only the sampler's
SCOPES = ("total", "sampler")


class BudgetError(ValueError):
    """The budget cannot be met by any hidden width."""


def _n_leaves(tree) -> int:
    # Abstract leaves are ShapeDtypeStructs; static fields are not leaves.
    leaves = jax.tree_util.tree_leaves(tree)
    return int(sum(math.prod(leaf.shape) for leaf in leaves if hasattr(leaf, "shape")))


@lru_cache(maxsize=4096)
def count_params(family, data_dim: int, hidden: int, scope: str = "total") -> int:
    """Number of parameters of `family` at hidden width `hidden`.

    `scope="total"` counts every trained parameter; `"sampler"` only the part
    used to draw samples (generator, decoder, the RBM itself).
    """
    nets = eqx.filter_eval_shape(family.build, jr.key(0), data_dim, hidden)
    if scope == "total":
        return _n_leaves(nets)
    if scope == "sampler":
        return _n_leaves(family.sampler_part(nets))
    allowed = " or ".join(map(repr, SCOPES))
    raise BudgetError(f"budget.scope={scope!r} is not allowed; use {allowed}")


def solve_hidden(family, data_dim: int, budget: int, scope: str = "total") -> int:
    """The hidden width whose parameter count is nearest `budget`.

    Counts grow strictly with the width, so a bisection finds the first width at
    or above the budget; it and the one below are compared, ties going to the
    smaller model (never over budget on a tie).
    """

    def count(h: int) -> int:
        return count_params(family, data_dim, h, scope)

    smallest = count(1)
    if budget < smallest:
        raise BudgetError(
            f"budget.params={budget} is too small for model={family.name} with "
            f"{data_dim} data dimension(s) (budget={scope}): hidden width 1 already "
            f"has {smallest} parameters; the smallest feasible budget is {smallest}"
        )
    hi = 1
    while count(hi) < budget:
        hi *= 2
        if hi > MAX_HIDDEN:
            raise BudgetError(
                f"budget.params={budget} needs a hidden width above {MAX_HIDDEN}"
            )
    lo = max(1, hi // 2)
    while lo < hi:  # first h with count(h) >= budget
        mid = (lo + hi) // 2
        if count(mid) >= budget:
            hi = mid
        else:
            lo = mid + 1
    if hi > 1 and budget - count(hi - 1) <= count(hi) - budget:
        return hi - 1
    return hi
