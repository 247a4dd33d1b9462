"""A target and a family from outside the package, through the real CLI.

`docs/extend/` holds the two modules and their YAML files that the README's
"Add your own target / model" shows; here they are copied into a temporary
folder, put on PYTHONPATH and given to the CLI with `--config-dir`.
"""

from __future__ import annotations

import json
import os
import shutil

from .conftest import FAST, ROOT, run_cli


def test_an_outside_target_and_family_are_validated_trained_scored_and_summarised(
    tmp_path,
):
    shutil.copytree(ROOT / "docs" / "extend", tmp_path / "extend")
    path = os.pathsep.join([str(tmp_path / "extend"), os.environ.get("PYTHONPATH", "")])
    proc = run_cli(
        "-m",
        "--config-dir",
        "extend/conf",
        "target=two_squares",
        "model=gmm",
        "budget.params=50",
        "target.side=1.0,-1.0",
        *FAST,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env={"PYTHONPATH": path},
    )
    # the job with side=-1 is refused by TwoSquares itself: one line, exit 1
    assert proc.returncode == 1, proc.stderr
    assert "genbench: error: target.side=-1.0 is not allowed: must be > 0" in (
        proc.stderr
    )
    jobs = {p.name.split("_")[0]: p for p in (tmp_path / "sweep").iterdir()}
    bad = json.loads((jobs["1"] / "metrics.json").read_text())
    assert bad["status"] == "config_error"
    m = json.loads((jobs["0"] / "metrics.json").read_text())
    # budget solved for the family: H components of 1 + 2 * dim parameters each
    assert m["status"] == "ok" and m["hidden"] == 10 and m["n_params"] == 50
    assert m["model"] == "gmm" and m["target"] == "two_squares"
    assert m["hist_bins"] == [30, 30]
    kl = m["metrics"]["kl"]
    assert 0 <= m["metrics"]["kl"]["floor"] < kl["mean"] < 20
    for plot in ("target_vs_model.png", "curves.png", "timeline.png"):
        assert (jobs["0"] / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert "gmm on two_squares" in proc.stdout and "H=10" in proc.stdout
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "two_squares" in summary and "gmm" in summary
