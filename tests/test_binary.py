"""Bit-vector targets: patterns, exact scoring over all states, Bernoulli models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genbench.targets import BarsAndStripes

from .conftest import FAST, run_cli


def _bits(states, d):
    return ((np.asarray(states)[:, None] >> np.arange(d - 1, -1, -1)) & 1).astype(
        np.float32
    )


# --- the families with Bernoulli units -------------------------------------------


# --- the CLI, every family --------------------------------------------------------


@pytest.mark.parametrize("model", ["gan", "vae", "rbm"])
def test_cli_trains_every_family_on_bars_and_stripes(model, tmp_path):
    proc = run_cli(
        f"model={model}",
        "target=binary_bars_stripes",
        *FAST,
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "ok" and m["encoding"] == "binary"
    assert m["patterns_total"] == 14 and m["coverage_samples"] == 1000
    for name in ("kl", "precision", "coverage", "tv", "w1"):
        stat = m["metrics"][name]
        assert stat["mean"] is not None and stat["floor"] is not None, name
    assert m["metrics"]["precision"]["floor"] == 1.0
    assert m["metrics"]["coverage"]["floor"] == 1.0
    assert m["metrics"]["kl_compat"]["mean"] is None
    samples = np.load(out / "samples.npz")["samples"]
    assert samples.shape == (2, 2000, 9) and set(np.unique(samples)) <= {0.0, 1.0}
    # precision recomputed from the saved samples
    valid = set(BarsAndStripes("b", n=3).pattern_index().tolist())
    idx = samples.astype(int) @ (2 ** np.arange(8, -1, -1))
    share = [np.mean([i in valid for i in row]) for row in idx]
    np.testing.assert_allclose(m["metrics"]["precision"]["per_seed"], share, atol=1e-6)
    for plot in ("patterns.png", "curves.png"):
        assert (out / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert "precision" in proc.stdout and "coverage" in proc.stdout
    assert "bit vectors" in proc.stdout
