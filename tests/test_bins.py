"""Binned (one-hot) mode: the grid, encode/decode, every model, the softmax RBM."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genbench.config import build_run
from genbench.train import train

from .conftest import (
    CONF,
    FAST,
    GRID_TARGETS,
    MODELS,
    compose_cfg,
    rotation,
    target_args,
)


def make_target(name):
    return instantiate(compose_cfg(f"target={name}").target, _convert_="all")


@pytest.mark.parametrize(
    "target, n, model", rotation(["1d_trimodal", "2d_gmm"], [2, 7, 20], MODELS)
)
def test_every_model_trains_binned_to_finite_metrics(model, target, n):
    cfg = compose_cfg(
        f"model={model}", f"target={target}", f"bins.n={n}", *FAST, "train.steps=60"
    )
    spec = build_run(cfg)
    assert spec.family.blocks == (spec.target.dim, n)
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    for name in ("kl", "w1"):
        assert np.all(np.isfinite(result.final[name])), name
    assert result.snapshot_hists.shape[2:] == (n,) * spec.target.dim


def _every_target_binned():
    """Every target x family; by default only the first target of each class,
    with one family in turn (the others run with `-m slow`)."""
    seen = set()
    for i, target in enumerate(GRID_TARGETS):  # bit vectors are never binned
        cls = OmegaConf.load(CONF / "target" / f"{target}.yaml")["_target_"]
        first = cls not in seen
        seen.add(cls)
        for j, model in enumerate(MODELS):
            slow = not first or (i + j) % len(MODELS) != 0
            marks = [pytest.mark.slow] if slow else []
            yield pytest.param(target, model, marks=marks, id=f"{model}-{target}")


@pytest.mark.parametrize("target, model", list(_every_target_binned()))
def test_every_target_trains_binned_to_finite_metrics(target, model):
    cfg = compose_cfg(
        f"model={model}", *target_args(target), "bins.n=16", *FAST, "train.steps=60"
    )
    spec = build_run(cfg)
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    for name in ("kl", "w1", "lost"):
        assert np.all(np.isfinite(result.final[name])), name
    assert result.snapshot_hists.shape[2:] == (16,) * spec.target.dim
    # the encoding's exact cells (tails in the edge cells) sum to 1
    assert abs(np.sum(spec.encoding.bin_probs(spec.target)) - 1) < 1e-6
