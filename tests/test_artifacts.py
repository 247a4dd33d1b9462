"""Artifact writing: atomic, and readable as the user's umask allows."""

import os
import stat

import pytest

from genbench.artifacts import atomic_write, write_json


@pytest.mark.parametrize(
    ("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)]
)
def test_files_get_the_umask_mode(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        write_json(tmp_path / "sub" / "m.json", {"kl": 0.5})
    finally:
        os.umask(old)
    for path in (tmp_path / "a.txt", tmp_path / "sub" / "m.json"):
        assert stat.S_IMODE(path.stat().st_mode) == mode
    assert (tmp_path / "a.txt").read_text() == "x"
    # no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "sub"]


def test_plots_setting_chooses_the_figures_a_run_draws(tmp_path):
    """plots=final: only the figures of the final samples; plots=none: no
    figure. plots is not part of what a job computes: in a sweep, the job that
    differs only in it is a duplicate of the first."""
    import json

    from .conftest import FAST, run_cli

    args = ["model=vae", "target=2d_mix_gauss", *FAST]
    proc = run_cli(
        "-m", *args, "plots=final,none", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (final,) = (tmp_path / "sweep").glob("0_*")  # plots is not in the job's name
    (same,) = (tmp_path / "sweep").glob("1_*")
    assert sorted(p.name for p in (final / "plots").iterdir()) == [
        "scatter.png",
        "target_vs_model.png",
    ]
    record = json.loads((same / "metrics.json").read_text())
    assert record["status"] == "duplicate" and record["same_as"] == f"../{final.name}"

    proc = run_cli(*args, "train.seed=3", "plots=none", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (metrics,) = (tmp_path / "outputs").glob("*/*/metrics.json")
    assert not (metrics.parent / "plots").exists()
    m = json.loads(metrics.read_text())
    assert (
        m["status"] == "ok" and m["seeds"] == [3, 4] and m["metrics"]["kl"]["mean"] > 0
    )


def test_a_bad_plots_value_is_one_line_naming_it(compose_config):
    from genbench.config import ConfigError, validate

    with pytest.raises(
        ConfigError, match=r"plots='some' is not allowed: \('all', 'final', 'none'\)"
    ):
        validate(compose_config("plots=some"))
