"""genbench/usage.py: `--help` lists the groups a user picks, with their meaning
and examples (through the CLI)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import run_cli


def test_help_lists_the_groups_a_user_picks_with_their_meaning_and_examples(tmp_path):
    root = Path(__file__).resolve().parents[1]
    mine = tmp_path / "mine"
    shutil.copytree(root / "docs" / "extend" / "conf", mine)
    (mine / "optim").mkdir()  # a user's own group: listed, without a meaning
    (mine / "optim" / "fast.yaml").write_text("# @package _global_\n# Quick.\n")
    proc = run_cli("--config-dir", str(mine), "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "schema/" not in out and "TrainSettings" not in out
    assert out.startswith("genbench: GAN, VAE and RBM")
    groups = out.split("== Groups")[1].split("== Config")[0]
    heads = [x.split(":")[0] for x in groups.splitlines()[1:] if x and x[0] != " "]
    assert heads == [
        "bins", "budget", "experiment", "model", "optim", "target", "train", "tune"
    ]  # fmt: skip
    # each group's meaning; each option with its YAML's first sentence
    assert "\nmodel: the model family and its settings" in groups
    assert "\n  rbm_original  The original script's RBM: SGD 1e-2, CD-1" in groups
    assert "\n  gmm           A mixture of H diagonal Gaussians" in groups
    assert "\n  two_squares          Uniform on two squares" in groups
    assert "\noptim:\n  fast  Quick\n" in groups
    assert "\ntrain: steps, batch size, seeds" in groups
    examples = out.split("== Examples ==")[1].splitlines()[1:4]
    assert [x.split()[0] for x in examples] == [
        "genbench",
        "genbench",
        "genbench-report",
    ]
    assert "--format latex" in examples[2] and " -m " in examples[1]
    assert (
        "  budget:\n    scope: total\n    params: 1600" not in out
    )  # not the hydra tree
    assert "budget:\n  scope: total\n  params: 1600\n" in out  # the config
