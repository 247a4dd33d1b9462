"""The contract every family and every target passes, read from genbench/conf.

The table is every family of conf/model (a variant, which names another model
file in its `defaults`, is a preset, not a family) x every target of
conf/target x every encoding the target takes (continuous and binned for a
grid target, bits for a bit-vector target). A new model or target YAML joins
it with no edit here.

- `test_every_family_and_target_meet_the_contract`, every case, no training
  (a family may refuse a binned or bit-vector case in one line, not continuous):
  the budget within tolerance, the encoding the case names, sample and encoded
  shapes, one jitted step (finite logs, parameters that move), the sampler's
  shapes in model and data space, and the same seed giving the same numbers.
  The programs of one family and model space compile once for all targets.
- `test_every_target_and_model_trains_to_finite_metrics`, whole runs of
  `genbench.train.train`: every target x every model file (variants too) x its
  encodings. The default suite runs a rotation (conftest.rotation) in which
  every target, every model file and every encoding trains once; the others
  are `slow`.
"""

from __future__ import annotations

import functools

import jax
import jax.random as jr
import numpy as np
import pytest

from genbench.config import ConfigError, build_run
from genbench.train import METRICS, train

from .conftest import (
    ALL_MODELS,
    BINARY_TARGETS,
    FAST,
    MODEL_VARIANTS,
    MODELS,
    TARGETS,
    compose_cfg,
    rotation,
    target_args,
    variant_of,
)

BINS = 7  # cells per axis of the contract's binned cases
TRAIN_BINS = (2, 7, 16, 20)  # the trained binned cases take these in turn


def encodings_of(target: str) -> list[str]:
    """The encodings a target takes: bit vectors are never binned."""
    return ["bits"] if target in BINARY_TARGETS else ["continuous", "binned"]


CASES = [(t, e) for t in TARGETS for e in encodings_of(t)]


@functools.cache
def _programs(family, model_dim: int, hidden: int):
    """The family's init, step and sampler, jitted once per model space (a
    family is a hashable dataclass: equal for every target of one space)."""
    return (
        jax.jit(family.init, static_argnums=(1, 2)),
        jax.jit(family.step),
        jax.jit(family.sample, static_argnums=2),
    )


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("family", MODELS)
@pytest.mark.parametrize("target, encoding", CASES)
def test_every_family_and_target_meet_the_contract(target, encoding, family):
    n_bins = BINS if encoding == "binned" else 0
    cfg = compose_cfg(
        f"model={family}", *target_args(target), f"bins.n={n_bins}", *FAST
    )
    try:
        spec = build_run(cfg)
    except ConfigError as err:
        # A family may refuse an encoding it does not model (docs/extend's
        # Gaussian mixture: continuous only), in one line; never continuous data.
        assert encoding != "continuous" and "\n" not in str(err), err
        return
    fam, tgt, enc = spec.family, spec.target, spec.encoding
    # the budget solved within tolerance
    assert abs(spec.n_params - cfg.budget.params) <= 0.1 * cfg.budget.params
    # the encoding the case names, and the family set up for it
    assert (enc.binned, enc.bits) == (encoding == "binned", encoding == "bits")
    assert fam.bernoulli == (encoding == "bits")
    if encoding == "binned":
        assert fam.blocks == (tgt.dim, BINS) and enc.model_dim == BINS * tgt.dim
        # the encoding's exact cells (tails in the edge cells) sum to 1
        assert abs(np.sum(enc.bin_probs(tgt)) - 1) < 1e-6
        assert fam.output_kind in ("logits", "states")
    else:
        assert fam.blocks is None
        assert fam.output_kind == ("states" if encoding == "bits" else "values")
    # target samples and their encoding: shapes, the same key the same draws
    n = spec.settings.batch_size
    x = tgt.sample(jr.key(0), n)
    assert x.shape == (n, tgt.dim) and np.all(np.isfinite(np.asarray(x)))
    np.testing.assert_array_equal(np.asarray(tgt.sample(jr.key(0), n)), x)
    batch = enc.encode(x)
    assert batch.shape == (n, enc.model_dim)

    init, step, sample = _programs(fam, enc.model_dim, spec.hidden)
    state = init(jr.key(1), enc.model_dim, spec.hidden)
    new, logs = step(state, batch, jr.key(2))
    assert logs and all(np.isfinite(float(v)) for v in logs.values()), logs
    # history rows hold the logs and the metrics side by side: no shared names
    assert not set(logs) & set(METRICS), set(logs) & set(METRICS)
    before, after = _leaves(fam.params(state)), _leaves(fam.params(new))
    assert any(not np.allclose(a, b) for a, b in zip(after, before, strict=True))
    y = sample(new, jr.key(3), 50)
    assert y.shape == (50, enc.model_dim) and np.all(np.isfinite(np.asarray(y)))
    if fam.output_kind == "states":
        assert set(np.unique(np.asarray(y))) <= {0.0, 1.0}
    assert enc.decode(y, jr.key(4), fam.output_kind).shape == (50, tgt.dim)
    # determinism: the same keys give the same state, step and samples
    again = init(jr.key(1), enc.model_dim, spec.hidden)
    for a, b in zip(_leaves(again), _leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)
    new2, logs2 = step(again, batch, jr.key(2))
    assert {k: float(v) for k, v in logs2.items()} == {
        k: float(v) for k, v in logs.items()
    }
    for a, b in zip(_leaves(new2), _leaves(new), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.asarray(sample(new2, jr.key(3), 50)), y)


def _trained_cases():
    """Every target x model file x encoding; the default suite runs the
    rotation of targets and model files (each model file in turn), each target
    with one of its encodings in turn (binned with each of TRAIN_BINS in turn).
    The others are `slow`."""
    for p in rotation(TARGETS, ALL_MODELS):
        target, model = p.values
        i = TARGETS.index(target)
        encodings = encodings_of(target)
        for k, encoding in enumerate(encodings):
            n = TRAIN_BINS[(i // 2) % len(TRAIN_BINS)] if encoding == "binned" else 0
            slow = bool(p.marks) or k != i % len(encodings)
            yield pytest.param(
                target,
                n,
                model,
                marks=[pytest.mark.slow] if slow else [],
                id=f"{target}-{encoding}{n or ''}-{model}",
            )


@pytest.mark.parametrize("target, n_bins, model", list(_trained_cases()))
def test_every_target_and_model_trains_to_finite_metrics(target, n_bins, model):
    cfg = compose_cfg(
        f"model={model}",
        *target_args(target),
        f"bins.n={n_bins}",
        *FAST,
        "train.steps=60",
    )
    try:
        spec = build_run(cfg)
    except ConfigError as err:  # an encoding the family refuses (see above)
        assert n_bins or target in BINARY_TARGETS, err
        return
    s = spec.settings
    result = train(spec.family, spec.target, spec.encoding, s, spec.hidden)
    assert result.samples.shape == (s.seeds, s.eval_samples, spec.target.dim)
    assert len(result.history) == s.n_chunks * s.seeds
    for name in ("kl", "w1", "lost"):
        assert np.all(np.isfinite(result.final[name])), name
    assert np.all(result.diverged_step == -1)
    assert abs(spec.n_params - cfg.budget.params) <= 0.1 * cfg.budget.params
    if n_bins:
        assert spec.family.blocks == (spec.target.dim, n_bins)
        assert result.snapshot_hists.shape[2:] == (n_bins,) * spec.target.dim


def test_the_default_rotation_trains_every_target_model_and_encoding():
    default = [p.values for p in _trained_cases() if not p.marks]
    assert {t for t, _, _ in default} == set(TARGETS)
    assert {m for _, _, m in default} == set(ALL_MODELS)
    grid = {n for t, n, _ in default if t not in BINARY_TARGETS}
    assert grid == {0, *TRAIN_BINS}  # continuous, and every number of bins
    assert len(default) == len(TARGETS)


def test_families_and_variants_are_told_apart_by_defaults_not_names(tmp_path):
    (tmp_path / "real_nvp.yaml").write_text("_target_: x.RealNVP\nname: real_nvp\n")
    (tmp_path / "small.yaml").write_text("defaults:\n  - real_nvp\n  - _self_\n")
    assert variant_of("real_nvp", tmp_path) is None  # a family, "_" or not
    assert variant_of("small", tmp_path) == "real_nvp"
    assert {"gan", "rbm", "vae"} <= set(MODELS)
    assert all(variant_of(v) in MODELS for v in MODEL_VARIANTS)
