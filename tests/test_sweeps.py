"""Sweeps through the real CLI (multirun and the sweep summary): failure isolation,
launchers, resume, a bit-vector sweep trained by every family, user configs.
The summary's tables and figures without training: tests/test_report.py."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import numpy as np
import pytest

from genbench import report
from genbench.targets import BarsAndStripes

from .conftest import FAST, MODELS, run_cli

SWEEP = ["-m", "model=gan", "budget.params=10,400", *FAST]


def test_failing_job_is_recorded_the_others_finish_and_resume_skips(tmp_path):
    # through the joblib launcher (parallel processes; failures counted from the
    # job folders), resumed below with the default one
    proc = run_cli(
        *SWEEP, "hydra/launcher=local_parallel", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert proc.returncode == 1  # one job failed
    assert "1 job(s) failed" in proc.stderr and "budget.params=10" in proc.stderr
    sweep = tmp_path / "sweep"
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2
    # folders name what the job computes: no paths (jax_cache) or display keys
    assert jobs[0].name.startswith("0_budget.params=10,model=gan,train.")
    assert not any("jax_cache" in p.name or "progress" in p.name for p in jobs)
    bad = json.loads((jobs[0] / "metrics.json").read_text())
    good = json.loads((jobs[1] / "metrics.json").read_text())
    assert bad["status"] == "config_error" and "smallest feasible" in bad["error"]
    assert good["status"] == "ok"
    # the preset's workers train on one device each (train.devices=1)
    assert good["timing"]["devices"] == 1 and good["config"]["train"]["devices"] == 1
    # the resume hint names this sweep's folder
    assert "re-run the same command with hydra.sweep.dir=sweep:" in proc.stderr
    summary = (sweep / "summary.md").read_text()
    assert "| 400 |" in summary and "config_error" in summary
    rows = list(csv.DictReader(io.StringIO((sweep / "summary.csv").read_text())))
    assert {r["status"] for r in rows} == {"ok", "config_error"}
    assert (sweep / "summary_budget.png").read_bytes()[:4] == b"\x89PNG"

    # Resume: the complete job is skipped, the failed one runs (and fails) again.
    stamp = (jobs[1] / "metrics.json").stat().st_mtime_ns
    again = run_cli(*SWEEP, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert "1 job(s) skipped" in again.stderr and again.returncode == 1
    assert (jobs[1] / "metrics.json").stat().st_mtime_ns == stamp


def test_report_tolerates_missing_jobs_and_formats(tmp_path, capsys):
    # the jobs run through the submitit launcher (local processes, as on SLURM)
    proc = run_cli(
        "-m",
        "hydra/launcher=submitit_local_cpu",
        "model=vae,rbm",
        *FAST,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    assert (sweep / "summary.md").exists()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    for job in jobs:
        assert json.loads((job / "metrics.json").read_text())["status"] == "ok"
    (jobs[1] / "metrics.json").unlink()  # a job that never finished
    shutil.rmtree(jobs[1] / "params")
    assert report.main([str(sweep), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in rows].count("missing") == 1
    assert sum(r.get("model") == "vae" for r in rows) == 2  # one row per seed
    assert (
        report.main(
            [str(sweep), "--format", "markdown", "--out", str(tmp_path / "rep")]
        )
        == 0
    )
    md = capsys.readouterr().out
    assert "| budget | vae |" in md and "missing" in md
    assert (tmp_path / "rep" / "summary.csv").exists()


@pytest.mark.slow  # three sweeps, four trainings; resume's logic: test_identity.py
def test_resume_finds_jobs_by_configuration_and_says_why_it_reruns(tmp_path):
    fast = [o for o in FAST if not o.startswith("jax_cache")]
    cache = f"jax_cache={FAST[-1].partition('=')[2]}"
    first = run_cli(
        "-m", "model=vae", "budget.params=400,1600", *fast, cache,
        "hydra.sweep.dir=sweep", cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    sweep = tmp_path / "sweep"
    (j400,) = sweep.glob("0_budget.params=400,*")
    (j1600,) = sweep.glob("1_budget.params=1600,*")
    stamps = {j: (j / "metrics.json").stat().st_mtime_ns for j in (j400, j1600)}
    # The same study with one more budget: 1600 is now job 2. The progress bar
    # and the compilation cache (override and environment) do not change what a
    # job computes: neither finished job runs again.
    second = [
        "-m", "model=vae", "budget.params=400,800,1600", *fast,
        "train.progress=true", "hydra.sweep.dir=sweep",
    ]  # fmt: skip
    # another path (a link: the programs compiled so far stay cached)
    (tmp_path / "cache").symlink_to(cache.partition("=")[2])
    env = {"GENBENCH_JAX_CACHE": str(tmp_path / "cache")}
    proc = run_cli(*second, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "2 job(s) skipped" in proc.stderr and "re-running" not in proc.stderr
    assert {j: (j / "metrics.json").stat().st_mtime_ns for j in stamps} == stamps
    (repeat,) = sweep.glob("2_budget.params=1600,*")
    record = json.loads((repeat / "metrics.json").read_text())
    assert record["status"] == "duplicate"
    assert (repeat / record["same_as"]).resolve() == j1600.resolve()
    assert not (repeat / "params").exists()
    summary = (sweep / "summary.md").read_text()
    rows = [x for x in summary.splitlines() if x.startswith("| 1600 |")]
    assert len(rows) == 1 and "(2)" in rows[0]  # two seeds, not four
    assert "| 800 |" in summary and "## Not ok" not in summary
    good = json.loads((j400 / "metrics.json").read_text())
    done = json.loads((j1600 / "metrics.json").read_text())
    assert done["identity"] == record["identity"] != good["identity"]
    assert good["choices"]["model"] == "vae" and len(good["identity"]) == 12

    # An unfinished job runs again, and the console says why.
    good.update(status="interrupted", steps_done=100)
    (j400 / "metrics.json").write_text(json.dumps(good))
    proc = run_cli(*second, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (
        f"re-running {j400.name}: previous status interrupted at step 100 of 200"
        in proc.stderr
    )
    assert "2 job(s) skipped" in proc.stderr
    assert json.loads((j400 / "metrics.json").read_text())["status"] == "ok"


@pytest.mark.slow  # two sweeps; the names' rule: test_identity.py (short_dirname)
def test_long_list_overrides_give_short_stable_folder_names(tmp_path):
    twelve = [
        "target.means=[" + ",".join(f"{m - 5.5:.1f}" for m in range(12)) + "]",
        "target.stds=[" + ",".join(["0.2012345678"] * 12) + "]",
        "target.weights=[" + ",".join(["0.1"] * 4 + ["0.075"] * 8) + "]",
        "target.bounds=[-7,7]",
    ]
    args = [
        "-m",
        "model=vae",
        "model.lr=1e-3,3e-3",
        *twelve,
        *FAST,
        "hydra.sweep.dir=s",
    ]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p for p in (tmp_path / "s").iterdir() if p.is_dir())
    assert [p.name[:2] for p in jobs] == ["0_", "1_"]
    for job in jobs:  # job number, the overrides cut short, a hash of them all
        assert len(job.name.encode()) <= 170
        assert job.name[2:].startswith("model.lr=") and job.name[-11] == "_"
        assert json.loads((job / "metrics.json").read_text())["status"] == "ok"
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert "| budget | vae lr=0.001 | vae lr=0.003 | floor |" in summary
    again = run_cli(*args, cwd=tmp_path)  # resume finds both jobs
    assert "2 job(s) skipped" in again.stderr and again.returncode == 0
    assert sorted(p for p in (tmp_path / "s").iterdir() if p.is_dir()) == jobs


def test_errors_building_a_user_config_are_config_errors(tmp_path):
    target = tmp_path / "user" / "target"
    target.mkdir(parents=True)
    common = "name: mine\nmeans: [-1.0, 1.0]\n"
    (target / "typo.yaml").write_text(
        f"_target_: genbench.targets.Mixture1D\n{common}std: [0.3, 0.3]\n"
    )
    (target / "scalar.yaml").write_text(
        f"_target_: genbench.targets.Mixture1D\n{common}stds: 0.3\n"
    )
    (target / "nope.yaml").write_text(f"_target_: genbench.targets.Nope\n{common}")
    user = ["--config-dir", str(tmp_path / "user"), "model=vae", *FAST]
    proc = run_cli(*user, "target=typo", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        "genbench: error: target.std is not an argument of Mixture1D; "
        "allowed: name, means, stds, weights, bounds\n" in proc.stderr
    )
    assert not (tmp_path / "run" / "metrics.json").exists()

    proc = run_cli(
        "-m", *user, "target=typo,scalar,nope,1d_bimodal", "hydra.sweep.dir=s",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("genbench: error")]
    assert errors == [
        "genbench: error: target.std is not an argument of Mixture1D; "
        "allowed: name, means, stds, weights, bounds",
        "genbench: error: target.stds=0.3 is not allowed: Mixture1D expects "
        "list[float]",
        "genbench: error: target._target_='genbench.targets.Nope' cannot be "
        "imported: 'genbench.targets' has no attribute 'Nope'",
    ]
    status = {
        re.search(r"[_,]target=([^,]+)", p.name).group(1): json.loads(
            (p / "metrics.json").read_text()
        )["status"]
        for p in (tmp_path / "s").iterdir()
        if p.is_dir()
    }
    assert status == {
        "typo": "config_error",
        "scalar": "config_error",
        "nope": "config_error",
        "1d_bimodal": "ok",
    }
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert "## 1d_bimodal, continuous" in summary
    assert summary.count("| config_error |") == 3


def test_a_sweep_over_a_bit_vector_target_reports_precision_and_coverage(tmp_path):
    # every family of conf/model trains on bars and stripes through the CLI
    proc = run_cli(
        "-m",
        f"model={','.join(MODELS)}",
        "target=binary_bars_stripes",
        *FAST,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(MODELS)  # one row per seed
    for row in rows:
        assert 0 <= float(row["precision"]) <= 1 and 0 <= float(row["coverage"]) <= 1
        assert float(row["precision_floor"]) == 1.0
    assert "gan" in (sweep / "summary.md").read_text()
    # no grid to draw side by side: each job has its patterns.png instead
    assert not list(sweep.glob("compare_*.png"))
    assert len(list(sweep.glob("*/plots/patterns.png"))) == len(MODELS)
    # each job's files (was test_binary.py's CLI run of each family)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == len(MODELS)
    valid = set(BarsAndStripes("b", n=3).pattern_index().tolist())
    for out in jobs:
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
        idx = samples.astype(int) @ (2 ** np.arange(8, -1, -1))
        share = [np.mean([i in valid for i in row]) for row in idx]
        np.testing.assert_allclose(
            m["metrics"]["precision"]["per_seed"], share, atol=1e-6
        )
        for plot in ("patterns.png", "curves.png"):
            assert (out / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert proc.stdout.count("bit vectors") == len(MODELS)
    assert "precision" in proc.stdout and "coverage" in proc.stdout
