"""Section 4, study: where a sweep's time goes, job by job (issue 20).

Three sweeps run as subprocesses of the real CLI, each with its own compilation
cache folder under `--out`:

- `original`: the original script's whole study (`-m +experiment=original`:
  GAN, VAE and RBM, 100 000 steps, 1 seed, batch 128), with a cold (empty)
  compilation cache and then warm (the same folder, second run);
- `gan`: one default GAN job (8 seeds), cold;
- `grid`: `-m +experiment=grid train.steps=5000` (18 jobs), cold.

Each job's wall time is split with what the job records in metrics.json's
`timing` block. A job's window runs from the end of the last job that ended
before it started (or from the launch of the process) to its end, so windows
tile a sequential sweep; under a parallel launcher they overlap. Its parts:

- start-up: from the window's start to the job's start (interpreter, imports,
  Hydra's sweep and job set-up) plus `setup_seconds` (config, budget solve,
  memory check);
- compile, train, evaluation: `compile_seconds`, `train_seconds`, `eval_seconds`;
- artifacts/plots: `artifacts_seconds` + `plots_seconds`;
- other: the rest of the window (the FLOP count's wait, the summary, writing
  metrics.json).

A sweep's row adds up its jobs; its *other* also holds the time no job's window
covers (the sweep summary, the process's exit). Under a parallel launcher the
windows overlap, so a sweep's parts add up to more than its wall time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT, BenchSettings, format_stat, log, summarise

PARTS = ("startup", "compile", "train", "eval", "artifacts", "other")
PART_NAMES = {
    "startup": "start-up",
    "compile": "compile",
    "train": "train",
    "eval": "evaluation",
    "artifacts": "artifacts/plots",
    "other": "other",
}
# Tiny jobs of `--quick`: every code path of the section, in seconds.
QUICK = (
    "train.steps=100",
    "train.snapshot_percent=50",
    "train.eval_samples=1000",
    "train.snapshot_eval_samples=1000",
)


@dataclass(frozen=True)
class StudyCase:
    """One sweep of the study: its CLI overrides and the caches it runs with."""

    name: str
    what: str
    overrides: tuple[str, ...]
    quick: tuple[str, ...]  # `--quick`: overrides after `QUICK` (they replace)
    caches: tuple[str, ...] = ("cold",)  # "cold", then "warm" reuses its cache

    @property
    def multirun(self) -> bool:
        return "-m" in self.overrides


CASES = {
    "original": StudyCase(
        "original",
        "the original's whole study (GAN, VAE, RBM; 100 000 steps, 1 seed)",
        ("-m", "+experiment=original"),
        (),
        ("cold", "warm"),
    ),
    "gan": StudyCase("gan", "a default GAN job (8 seeds)", ("model=gan",), ()),
    "grid": StudyCase(
        "grid",
        "+experiment=grid at 5 000 steps (18 jobs)",
        ("-m", "+experiment=grid", "train.steps=5000"),
        # 3 of its 18 jobs: the budget and bins of the sweep pinned
        ("budget.params=400", "bins.n=0"),
    ),
}


def case_command(case: StudyCase, settings: BenchSettings, folder: Path) -> list[str]:
    """The CLI command of one sweep, its output and cache under `folder`."""
    where = "hydra.sweep.dir" if case.multirun else "hydra.run.dir"
    return [
        sys.executable,
        "-m",
        "genbench.run",
        *merge_overrides(
            case.overrides,
            [
                f"{where}={folder / 'jobs'}",
                f"jax_cache={folder.parent / f'jax_cache_{case.name}'}",
                "train.progress=false",
                *((*QUICK, *case.quick) if settings.quick else ()),
                *settings.study_overrides,
            ],
        ),
    ]


def merge_overrides(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """`base` then `extra`, without the items of `base` whose key `extra` sets."""
    keys = {item.split("=", 1)[0] for item in extra if "=" in item}
    return [i for i in base if i.split("=", 1)[0] not in keys] + list(extra)


def job_label(record: dict[str, Any], folder: str) -> str:
    """`<job number>: <model preset>, budget <n>, bins <n>` of a job's metrics.json
    (a sweep's job folder is `<number>_<overrides>`; a single run has none)."""
    number = f"{folder.split('_', 1)[0]}: " if folder else ""
    model = (record.get("choices") or {}).get("model") or record.get("model")
    if model is None:  # no record of what it ran: the folder says it
        return folder or "the run"
    budget = (record.get("budget") or {}).get("params")
    return f"{number}{model}, budget {budget}, bins {record.get('bins')}"


def run_case(case: StudyCase, cache: str, settings: BenchSettings, i: int) -> dict:
    """Run one sweep in a subprocess; its process wall time and job records."""
    folder = settings.out / "study" / f"{case.name}_{cache}_{i}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    cache_dir = folder.parent / f"jax_cache_{case.name}"
    if cache == "cold" and cache_dir.exists():
        shutil.rmtree(cache_dir)
    cmd = case_command(case, settings, folder)
    with open(folder / "bench_stdout.log", "w") as out:
        launched = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        exited = time.time()
    jobs = []
    for path in sorted((folder / "jobs").rglob("metrics.json")):
        record = json.loads(path.read_text())
        jobs.append(
            {
                "job": job_label(record, path.parent.name if case.multirun else ""),
                "status": record.get("status"),
                "timing": record.get("timing", {}),
            }
        )
    return {
        "case": case.name,
        "cache": cache,
        "command": " ".join(cmd[1:]),
        "returncode": proc.returncode,
        "launched": launched,
        "exited": exited,
        "jobs": jobs,
    }


def split_jobs(run: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each job's window and parts (seconds, see the module docstring), and the
    sweep's totals (wall: the process's). Jobs without timings (a configuration
    error, a failure) are left out of the parts and listed with their status."""
    timed = [j for j in run["jobs"] if "end_time" in j["timing"]]
    timed.sort(key=lambda j: j["timing"]["start_time"])
    rows = []
    for job in timed:
        t = job["timing"]
        begun = [
            o["timing"]["end_time"]
            for o in timed
            if o["timing"]["end_time"] <= t["start_time"]
        ]
        window_start = max(begun, default=run["launched"])
        parts = {
            "startup": t["start_time"] - window_start + t["setup_seconds"],
            "compile": t["compile_seconds"],
            "train": t["train_seconds"],
            "eval": t["eval_seconds"],
            "artifacts": t["artifacts_seconds"] + t["plots_seconds"],
        }
        wall = t["end_time"] - window_start
        parts["other"] = wall - sum(parts.values())
        rows.append(
            {"job": job["job"], "status": job["status"], "wall": wall, **parts}
            | {"window": window_start, "end": t["end_time"]}
        )
    totals = {p: sum(r[p] for r in rows) for p in PARTS}
    totals["wall"] = run["exited"] - run["launched"]
    # Plus the time no job's window covers (the summary, the exit). Under a
    # parallel launcher the windows overlap, so the parts add up to more than
    # the wall time; their union, not their sum, is what the jobs took.
    windows = sorted((r["window"], r["end"]) for r in rows)
    covered, reach = 0.0, run["launched"]
    for start, end in windows:
        covered += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    totals["other"] += max(0.0, totals["wall"] - covered)
    for r in rows:
        del r["window"], r["end"]
    return rows, totals


def largest(parts: dict[str, Any]) -> str:
    """The name of the largest part (medians when summarised)."""

    def size(p: str) -> float:
        v = parts[p]
        return v["median"] if isinstance(v, dict) else v

    return PART_NAMES[max(PARTS, key=size)]


def summarise_case(case: StudyCase, cache: str, runs: list[dict]) -> dict[str, Any]:
    """One sweep's repeats: per job and for the sweep, each part summarised."""
    splits = [split_jobs(r) for r in runs]
    labels = list(dict.fromkeys(row["job"] for rows, _ in splits for row in rows))
    jobs = []
    for label in labels:
        found = [row for rows, _ in splits for row in rows if row["job"] == label]
        job = {k: summarise([f[k] for f in found]) for k in ("wall", *PARTS)}
        job.update(job=label, status=found[-1]["status"], n=len(found))
        job["largest"] = largest(job)
        jobs.append(job)
    sweep = {k: summarise([s[k] for _, s in splits]) for k in ("wall", *PARTS)}
    sweep["largest"] = largest(sweep)
    untimed = [
        f"{j['job']} ({j['status']})"
        for r in runs
        for j in r["jobs"]
        if "end_time" not in j["timing"]
    ]
    return {
        "case": case.name,
        "what": case.what,
        "cache": cache,
        "command": runs[-1]["command"],
        "returncodes": [r["returncode"] for r in runs],
        "jobs": jobs,
        "sweep": sweep,
        "untimed_jobs": untimed,
        "runs": runs,
    }


def measure_study(settings: BenchSettings) -> list[dict[str, Any]]:
    """Every case of `study_cases`, `study_repeats` times, cold before warm."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for i in range(settings.study_repeats):
        for name in settings.study_cases:
            case = CASES[name]
            for cache in case.caches:
                run = run_case(case, cache, settings, i)
                runs.setdefault((name, cache), []).append(run)
                log(
                    f"study {name} ({cache} cache, {i + 1}/{settings.study_repeats})"
                    f": {run['exited'] - run['launched']:.1f} s, "
                    f"{len(run['jobs'])} job(s), exit {run['returncode']}"
                )
    return [summarise_case(CASES[n], c, r) for (n, c), r in runs.items()]


def markdown(results: dict[str, Any], settings: BenchSettings) -> list[str]:
    """The section's table in bench.md (and on stdout)."""
    extra = " ".join(settings.study_overrides) or "none"
    quick = " — **--quick: tiny jobs, for checking the script only**" * settings.quick
    lines = [
        "",
        "## 4. Study: where a sweep's time goes",
        "",
        "Each sweep is one `python -m genbench.run` process (`train.progress=false`,"
        f" its own compilation cache; extra overrides: {extra}){quick}."
        " Seconds per job, split by its metrics.json `timing`: *start-up* from "
        "the previous job's end (the first: the process's launch) to training "
        "(interpreter, imports, Hydra, config, budget solve); *artifacts/plots*: "
        "history, parameters, samples and figures; *other*: the rest (the "
        "sweep's row: also the summary and exit after its last job). Cold: an "
        f"empty compilation cache; warm: the cold run's. {settings.study_repeats} "
        "repeat(s): median (min–max).",
        "",
        "| sweep | job | wall, s | start-up | compile | train | evaluation "
        "| artifacts/plots | other | largest |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in results["study"]:
        name = f"{case['case']} ({case['cache']})"
        for job in case["jobs"]:
            cells = " | ".join(format_stat(job[p]) for p in ("wall", *PARTS))
            lines.append(f"| {name} | {job['job']} | {cells} | {job['largest']} |")
        s = case["sweep"]
        cells = " | ".join(f"**{format_stat(s[p])}**" for p in ("wall", *PARTS))
        failed = [c for c in case["returncodes"] if c != 0]
        note = f" (exit {failed[0]})" if failed else ""
        lines.append(f"| **{name}** | all{note} | {cells} | **{s['largest']}** |")
        for job in case["untimed_jobs"]:
            lines.append(f"| {name} | {job}: no timing | | | | | | | | |")
    lines += [""] + [
        f"- {c['case']} ({c['cache']}): {c['what']}: `{c['command']}`"
        for c in results["study"]
    ]
    return lines
