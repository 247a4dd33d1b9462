"""`genbench.load_run`: a trained run, loaded from its metrics.json and `.npz`
parameters, draws new samples distributed as those the run saved."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import numpy as np
import pytest
from scipy import stats

import genbench

from .conftest import FAST, run_cli


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One tiny VAE sweep, continuous and 7 bins: two trained runs of 2 seeds. A
    VAE's samples are independent draws; an RBM's come from a few Markov chains, whose
    two draws differ by more than sampling noise at 60 steps of training."""
    folder = tmp_path_factory.mktemp("load")
    proc = run_cli(
        "-m",
        "model=vae",
        "target=1d_trimodal",
        "bins.n=0,7",
        *FAST,
        "train.steps=60",
        "hydra.sweep.dir=sweep",
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    return {
        json.loads((p / "metrics.json").read_text())["bins"]: p
        for p in (folder / "sweep").iterdir()
        if (p / "metrics.json").exists()
    }


@pytest.mark.parametrize("bins", [0, 7])
def test_loaded_run_samples_match_the_saved_samples_in_distribution(sweep, bins):
    folder = sweep[bins]
    run = genbench.load_run(folder)
    record = json.loads((folder / "metrics.json").read_text())
    assert run.config == record["config"] and run.metrics == record["metrics"]
    assert run.family.name == "vae" and run.seeds == [0, 1]
    assert run.encoding.mode == ("binned" if bins else "continuous")
    saved = np.load(folder / "samples.npz")
    assert saved["seeds"].tolist() == run.seeds
    for i, seed in enumerate(run.seeds):
        # the networks are the saved arrays (read back independently from .eqx)
        eqx_file = folder / "params" / f"seed_{seed}.eqx"
        like = jax.tree_util.tree_map(np.zeros_like, run.params[seed])
        reference = eqx.tree_deserialise_leaves(eqx_file, like)
        for a, b in zip(
            jax.tree_util.tree_leaves(run.params[seed]),
            jax.tree_util.tree_leaves(reference),
            strict=True,
        ):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        x = run.sample(2000, seed=seed, key=1)
        assert x.shape == (2000, 1) and np.isfinite(x).all()
        np.testing.assert_array_equal(x, run.sample(2000, seed=seed, key=1))
        assert stats.ks_2samp(x[:, 0], saved["samples"][i, :, 0]).pvalue > 0.01
        if bins:  # decoded as the run decoded (hard: cell centres)
            gap = np.abs(x[:, :1] - run.encoding.centres[0][None, :]).min(axis=1)
            assert gap.max() < 1e-5
    if not bins:  # the test tells models apart: seed 0's samples are not seed 1's
        # (binned, the two seeds' 7 cell shares are too alike at 60 steps)
        x0 = run.sample(2000, seed=0, key=1)
        assert stats.ks_2samp(x0[:, 0], saved["samples"][1, :, 0]).pvalue < 1e-3


def test_load_run_refuses_what_is_not_a_trained_run(sweep, tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        genbench.load_run(tmp_path)
    with pytest.raises(KeyError, match=r"seed=5 is not a seed of this run"):
        genbench.load_run(sweep[0]).sample(10, seed=5)
    job = tmp_path / "job"
    job.mkdir()
    failed = {"status": "config_error", "error": "train.steps=0 is not allowed"}
    (job / "metrics.json").write_text(json.dumps(failed))
    with pytest.raises(ValueError, match="did not train.*train.steps=0"):
        genbench.load_run(job)
