"""Sweeps through the real CLI: failure isolation, summary, resume, report."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

from genbench import report

from .conftest import FAST, run_cli

SWEEP = ["-m", "model=gan", "budget.params=10,400", *FAST]


def test_failing_job_is_recorded_the_others_finish_and_resume_skips(tmp_path):
    proc = run_cli(*SWEEP, "hydra.sweep.dir=sweep", cwd=tmp_path)
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
    proc = run_cli("-m", "model=vae,rbm", *FAST, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
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


def test_markdown_marks_best_and_unresolved_differences():
    def rows(model, values):
        return [
            {
                "model": model,
                "target": "t",
                "bins": 0,
                "budget": 100,
                "kl": v,
                "kl_floor": 0.001,
                "status": "ok",
                "job": model,
            }
            for v in values
        ]

    table = report.to_markdown(
        rows("a", [0.10, 0.11, 0.12])
        + rows("b", [0.11, 0.13, 0.12])
        + rows("c", [0.50, 0.51, 0.52])
    )
    line = next(x for x in table.splitlines() if x.startswith("| 100 |"))
    a, b, c = line.split(" | ")[1:4]
    assert a.startswith("**0.1100") and b.startswith("≈ 0.1200")
    assert c.startswith("0.5100") and line.endswith("| 0.0010 |")


def test_joblib_launcher_runs_jobs_in_parallel_processes_and_counts_failures(tmp_path):
    proc = run_cli(
        *SWEEP, "hydra/launcher=local_parallel", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert proc.returncode == 1 and "1 job(s) failed" in proc.stderr
    rows = report.collect([tmp_path / "sweep"])
    assert {r["status"] for r in rows} == {"ok", "config_error"}


def test_submitit_local_launcher(tmp_path):
    proc = run_cli(
        "-m",
        "hydra/launcher=submitit_local_cpu",
        "model=vae",
        *FAST,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    (job,) = [p for p in (tmp_path / "sweep").iterdir() if p.name.startswith("0_")]
    assert json.loads((job / "metrics.json").read_text())["status"] == "ok"
    assert (tmp_path / "sweep" / "summary.md").exists()


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
