"""genbench/budget.py: exact counts (continuous, one-hot and bit-vector model
spaces), nearest width, clear errors. Every family x target within tolerance of
its budget: tests/test_contract.py."""

from __future__ import annotations

import pytest

from genbench.budget import BudgetError, count_params, solve_hidden
from genbench.config import build_run
from genbench.models import GAN, RBM, VAE

from .conftest import FAST, compose_cfg


def gan_formula(d, h, z=16):
    return (z * h + h + h * d + d) + (d * h + h + h + 1)


def vae_formula(d, h, z=2):
    return (d * h + h + h * 2 * z + 2 * z) + (z * h + h + h * d + d)


def rbm_formula(d, h, learn_sigma=True):
    return d * h + d + h + (d if learn_sigma else 0)


CASES = [
    (GAN(), gan_formula),
    (VAE(), vae_formula),
    (RBM(), rbm_formula),
    (RBM(learn_sigma=False), lambda d, h: rbm_formula(d, h, False)),
]


@pytest.mark.parametrize("family, formula", CASES)
@pytest.mark.parametrize("dim", [1, 2, 7])
def test_counts_equal_the_one_hidden_layer_formulas(family, formula, dim):
    for h in (1, 2, 17, 300):
        assert count_params(family, dim, h) == formula(dim, h)


@pytest.mark.parametrize("family, formula", CASES)
@pytest.mark.parametrize("dim", [1, 2, 7])
def test_solver_picks_the_nearest_width(family, formula, dim):
    for budget in (formula(dim, 1), 100, 400, 1600, 6401, 25_600):
        if budget < formula(dim, 1):
            continue
        h = solve_hidden(family, dim, budget)
        err = abs(formula(dim, h) - budget)
        assert err <= abs(formula(dim, h + 1) - budget)
        if h > 1:
            assert err <= abs(formula(dim, h - 1) - budget)


def test_sampler_scope_counts_generator_and_decoder_only():
    assert count_params(GAN(), 1, 10, "sampler") == 16 * 10 + 10 + 10 + 1
    assert count_params(VAE(), 1, 10, "sampler") == 2 * 10 + 10 + 10 + 1
    assert count_params(RBM(), 1, 10, "sampler") == count_params(RBM(), 1, 10)
    assert solve_hidden(GAN(), 1, 1600, "sampler") > solve_hidden(GAN(), 1, 1600)


def test_budget_below_the_smallest_model_names_the_smallest_feasible():
    with pytest.raises(BudgetError, match=r"smallest feasible budget is 23\b"):
        solve_hidden(GAN(), 1, 10)


def test_budget_counts_the_one_hot_sizes():
    spec = build_run(compose_cfg("model=rbm", "target=2d_gmm", "bins.n=20", *FAST))
    h = spec.hidden
    assert spec.n_params == 40 * h + 40 + h  # W (2n x H), visible and hidden biases


def test_budget_counts_n_bits_visible_units():
    spec = build_run(compose_cfg("model=rbm", "target=binary_bars_stripes", *FAST))
    h = spec.hidden
    assert spec.encoding.model_dim == 9 and spec.family.bernoulli
    assert spec.n_params == 9 * h + 9 + h  # W, b, c: no visible scale
    for model in ("gan", "vae"):
        other = build_run(compose_cfg(f"model={model}", "target=binary_cardinality"))
        assert other.encoding.model_dim == 12
        assert abs(other.n_params - 1600) <= 0.02 * 1600
