"""Configuration identity, resume lookup and job folder names (genbench/identity.py)."""

from __future__ import annotations

import json

from omegaconf import OmegaConf

from genbench.identity import (
    differences,
    find_complete,
    identity_hash,
    rerun_reason,
    run_name,
    short_dirname,
)

from .conftest import compose_cfg, run_cli


def _config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_cfg(*overrides), resolve=True)


def test_identity_ignores_only_what_does_not_change_the_computation():
    base = identity_hash(_config("model=vae"))
    for same in (
        "train.seed=3",
        "train.seeds=7",
        "train.progress=false",
        "train.devices=1",
        "jax_cache=/elsewhere",
    ):
        assert identity_hash(_config("model=vae", same)) == base, same
    for other in ("model.lr=0.005", "train.steps=300", "bins.decode=soft", "model=gan"):
        assert identity_hash(_config("model=vae", other)) != base, other
    # the same values however written; read back from JSON, the same hash
    assert identity_hash(_config("model=vae", "model.lr=3e-3")) == base
    assert identity_hash(json.loads(json.dumps(_config("model=vae")))) == base
    assert differences(_config("model=vae"), _config("model=vae", "model.lr=0.3")) == [
        "model.lr"
    ]


def test_resume_lookup_and_the_reason_for_running_again(tmp_path):
    done = _config("model=vae", "train.seeds=2")
    record = {"status": "ok", "seeds": [0, 1], "config": done}  # no identity: old
    (tmp_path / "0_a").mkdir()
    (tmp_path / "0_a" / "metrics.json").write_text(json.dumps(record))
    here = tmp_path / "5_b"
    here.mkdir()
    # found wherever it sits; fewer seeds of the same streams are covered
    assert find_complete(here, tmp_path, done, [0, 1]) == tmp_path / "0_a"
    assert find_complete(here, tmp_path, done, [0]) == tmp_path / "0_a"
    # seed j is the same stream whatever train.seed: 1 is covered, 2 is not
    later = _config("model=vae", "train.seed=1", "train.seeds=2")
    assert find_complete(here, tmp_path, later, [1]) == tmp_path / "0_a"
    assert find_complete(here, tmp_path, later, [1, 2]) is None
    assert rerun_reason(here, tmp_path, later, [1, 2]) == "0_a has seeds [0, 1] only"
    # a new job of another configuration: no earlier attempt, nothing to say
    other = _config("model=vae", "model.lr=0.005", "train.seeds=2")
    assert rerun_reason(here, tmp_path, other, [0, 1]) is None
    # its own folder holds a result of another config (defaults changed)
    (here / "metrics.json").write_text(json.dumps(record))
    assert find_complete(here, tmp_path, other, [0, 1]) is None
    assert rerun_reason(here, tmp_path, other, [0, 1]) == "config differs in model.lr"
    record.update(status="error", error="RuntimeError: boom\ntraceback")
    (here / "metrics.json").write_text(json.dumps(record))
    assert (
        rerun_reason(here, tmp_path, other, [0, 1])
        == "previous status error (RuntimeError: boom)"
    )


def test_short_dirname_keeps_short_names_and_cuts_long_ones_stably():
    assert short_dirname("model=vae,train.steps=200") == "model=vae,train.steps=200"
    long = "target.means=[" + ",".join(["0.123456789"] * 40) + "]"
    cut = short_dirname(long)
    assert len(cut.encode()) == 160 and cut.startswith("target.means=[0.1234")
    assert short_dirname(long) == cut  # stable
    assert short_dirname(long.replace("]", ",1.0]")) != cut  # the hash tells apart
    accents = "é" * 200  # never cut inside a character
    assert len(short_dirname(accents).encode()) <= 160


def test_a_run_folder_is_named_by_what_tells_runs_apart(tmp_path):
    name = run_name("rbm", "1d_trimodal", 20, "total", 1600, 200, 2)
    assert name == "rbm_1d_trimodal_bins20_total1600_steps200_seeds2"
    assert run_name("rbm", "1d_trimodal", 0, "total", 1600, 200, 2) != name
    assert run_name("my model/x", "t", 0, "total", 1, 2, 3).startswith("my-model-x_t_")
    # the CLI's default hydra.run.dir, resolved as Hydra does (no training)
    proc = run_cli(
        "model=vae", "bins.n=20", "budget=sampler", "train.steps=300",
        "--cfg", "all", "--resolve", "-p", "hydra.run.dir", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(
        "_vae_1d_trimodal_bins20_sampler1600_steps300_seeds8"
    )
