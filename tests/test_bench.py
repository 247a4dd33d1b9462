"""The benchmark's study section (scripts/bench/study.py): how it splits a sweep's
time, on hand-made job records, and the whole section end to end (`--quick`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench import study
from scripts.bench.common import BenchSettings

from .conftest import ROOT


def _timing(start, setup, compile, train, evaluate, artifacts, plots, wall):
    return {
        "start_time": start,
        "end_time": start + setup + wall,
        "setup_seconds": setup,
        "compile_seconds": compile,
        "train_seconds": train,
        "eval_seconds": evaluate,
        "artifacts_seconds": artifacts,
        "plots_seconds": plots,
        "wall_seconds": wall,
    }


def test_sequential_jobs_tile_the_sweep_and_the_largest_part_is_named():
    # launched at 100; job a starts at 104 (4 s of imports), job b 1 s after a
    # ends; the process exits 2 s after b ends (the sweep summary)
    a = _timing(104.0, 0.5, 6.0, 2.0, 1.0, 0.5, 1.0, 11.0)  # ends at 115.5
    b = _timing(116.5, 0.5, 0.5, 9.0, 1.0, 0.5, 0.5, 12.0)  # ends at 129.0
    run = {
        "launched": 100.0,
        "exited": 131.0,
        "jobs": [
            {"job": "1: b", "status": "ok", "timing": b},
            {"job": "0: a", "status": "ok", "timing": a},
            {"job": "2: c", "status": "config_error", "timing": {}},
        ],
    }
    rows, totals = study.split_jobs(run)
    assert [r["job"] for r in rows] == ["0: a", "1: b"]  # by start, untimed left out
    ra, rb = rows
    assert ra["wall"] == pytest.approx(15.5) and rb["wall"] == pytest.approx(13.5)
    assert ra["startup"] == pytest.approx(4.5) and rb["startup"] == pytest.approx(1.5)
    assert ra["artifacts"] == pytest.approx(1.5) and rb["train"] == 9.0
    assert ra["other"] == pytest.approx(15.5 - 4.5 - 6 - 2 - 1 - 1.5)
    assert totals["wall"] == 31.0  # the process's
    assert totals["other"] == pytest.approx(ra["other"] + rb["other"] + 2.0)
    assert sum(totals[p] for p in study.PARTS) == pytest.approx(31.0)
    assert study.largest(ra) == "compile" and study.largest(rb) == "train"
    assert study.largest(totals) == "train"


def test_overlapping_jobs_each_count_from_the_launch():
    # a parallel launcher: both jobs start before either ends
    a = _timing(103.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0)
    b = _timing(104.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0)
    run = {"launched": 100.0, "exited": 107.0, "jobs": []}
    run["jobs"] = [
        {"job": j, "status": "ok", "timing": t}
        for j, t in zip("ab", (a, b), strict=True)
    ]
    rows, totals = study.split_jobs(run)
    assert [r["startup"] for r in rows] == [pytest.approx(3.0), pytest.approx(4.0)]
    assert study.largest(rows[1]) == "start-up"
    # windows 100-105 and 100-106 overlap: the parts add up to more than the
    # wall; the sweep's other is the uncovered 106-107, never negative
    assert sum(totals[p] for p in study.PARTS) > totals["wall"] == 7.0
    assert totals["other"] == pytest.approx(1.0)


def test_quick_overrides_replace_the_sweeps_own(tmp_path):
    settings = BenchSettings(out=tmp_path, quick=True, study_overrides=("a=1",))
    cmd = study.case_command(study.CASES["grid"], settings, tmp_path / "x")
    steps = [c for c in cmd if c.startswith("train.steps=")]
    assert steps == ["train.steps=100"] and cmd[-1] == "a=1"
    assert cmd[3:5] == ["-m", "+experiment=grid"] and "budget.params=400" in cmd
    full = study.case_command(
        study.CASES["grid"], BenchSettings(out=tmp_path), tmp_path
    )
    assert "train.steps=5000" in full and "budget.params=400" not in full


@pytest.mark.slow  # four CLI processes, seven jobs: minutes on a loaded 2-core machine
def test_quick_study_runs_every_sweep_end_to_end(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.bench", "--quick", "--sections", "study"]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "bench.json").read_text())["study"]
    cases = [(c["case"], c["cache"]) for c in results]
    assert cases == [
        ("original", "cold"),
        ("original", "warm"),
        ("gan", "cold"),
        ("grid", "cold"),
    ]
    for case in results:
        assert case["returncodes"] == [0] and not case["untimed_jobs"]
        assert len(case["jobs"]) == {"gan": 1}.get(case["case"], 3)
        sweep = case["sweep"]
        parts = sum(sweep[p]["median"] for p in study.PARTS)
        assert parts == pytest.approx(sweep["wall"]["median"], rel=1e-6)
        for job in case["jobs"]:
            assert job["startup"]["median"] > 0 and job["compile"]["median"] > 0
            assert job["largest"] in study.PART_NAMES.values()
    warm, cold = results[1]["sweep"], results[0]["sweep"]
    assert warm["compile"]["median"] < cold["compile"]["median"]  # the cache works
    md = (out / "bench.md").read_text()
    assert "## 4. Study" in md and "| **grid (cold)** | all |" in md
    assert "| largest |" in proc.stdout  # the table is printed too
    assert Path(out / "study" / "jax_cache_original").is_dir()
