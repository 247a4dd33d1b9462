"""Section 2, runs: whole `python -m genbench.run model=<m>` processes, cold.

Wall time around the process, its peak RSS, and the compile / train / eval
seconds of its metrics.json; *other* is the rest (imports, config, artifacts,
plots).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import ROOT, BenchSettings, format_number, format_stat, log, summarise


def time_whole_run(model: str, run_dir: Path, overrides: Sequence[str]) -> dict:
    """Run the CLI once in a subprocess: wall time, peak RSS, its metrics.json.

    Peak RSS is the child's `ru_maxrss` from `os.wait4`, taken through a small
    launcher process. Linux keeps the high-water mark of the image a child was
    forked from, so a run forked from this process (with JAX loaded)
    would report at least this process's size; `getrusage(RUSAGE_CHILDREN)`
    has the same flaw and is moreover the largest of all children so far.
    """
    launcher = "\n".join(
        [
            "import json, os, sys, time",
            "t0 = time.perf_counter()",
            "pid = os.fork()",
            "if pid == 0:",
            "    os.execv(sys.argv[2], sys.argv[2:])",
            "_, status, usage = os.wait4(pid, 0)",
            "wall = time.perf_counter() - t0",
            "with open(sys.argv[1], 'w') as f:",
            "    json.dump({'status': status, 'maxrss': usage.ru_maxrss,",
            "               'wall': wall}, f)",
        ]
    )
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "genbench.run",
        f"model={model}",
        f"hydra.run.dir={run_dir}",
        "jax_cache=null",  # cold start: no persistent compilation cache
        "train.progress=false",
        *overrides,
    ]
    usage_path = run_dir / "bench_rusage.json"
    with open(run_dir / "bench_stdout.log", "w") as out:
        subprocess.run(
            [sys.executable, "-c", launcher, str(usage_path), *cmd],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    usage = json.loads(usage_path.read_text())
    rss_unit = 1 if sys.platform == "darwin" else 1024  # bytes vs KiB
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return {
        "returncode": os.waitstatus_to_exitcode(usage["status"]),
        "wall_seconds": usage["wall"],
        "peak_rss_mb": usage["maxrss"] * rss_unit / 2**20,
        "timing": metrics.get("timing", {}),
        "hidden": metrics.get("hidden"),
        "steps": metrics.get("steps"),
        "seeds": len(metrics.get("seeds", [])),
        "batch_size": metrics.get("batch_size"),
        "command": " ".join(cmd[1:]),
    }


def time_whole_runs(settings: BenchSettings) -> list[dict[str, Any]]:
    """`repeats` whole runs of the default config per model, summarised."""
    rows = []
    for model in settings.models:
        runs = []
        for i in range(settings.repeats):
            run_dir = settings.out / "runs" / f"{model}_{i}"
            run = time_whole_run(model, run_dir, settings.run_overrides)
            log(
                f"whole run {model} ({i + 1}/{settings.repeats}): "
                f"{run['wall_seconds']:.1f} s, {run['peak_rss_mb']:.0f} MB, "
                f"exit {run['returncode']}"
            )
            runs.append(run)
        ok = [r for r in runs if r["returncode"] == 0 and r["timing"]]
        row: dict[str, Any] = {
            "model": model,
            "ok": len(ok),
            "runs": runs,
            "wall_seconds": summarise([r["wall_seconds"] for r in runs]),
            "peak_rss_mb": summarise([r["peak_rss_mb"] for r in runs]),
        }
        if ok:
            first = ok[0]
            row.update(hidden=first["hidden"], steps=first["steps"])
            row.update(seeds=first["seeds"], batch_size=first["batch_size"])
            for part in ("compile", "train", "eval"):
                secs = [r["timing"][f"{part}_seconds"] for r in ok]
                row[f"{part}_seconds"] = summarise(secs)
                shares = [s / r["wall_seconds"] for s, r in zip(secs, ok, strict=True)]
                row[f"{part}_share"] = summarise(shares)
            other = [
                r["wall_seconds"]
                - sum(r["timing"][f"{p}_seconds"] for p in ("compile", "train", "eval"))
                for r in ok
            ]
            row["other_seconds"] = summarise(other)
            row["other_share"] = summarise(
                [o / r["wall_seconds"] for o, r in zip(other, ok, strict=True)]
            )
        rows.append(row)
    return rows


def markdown(results: dict[str, Any], settings: BenchSettings) -> list[str]:
    """The section's table in bench.md."""
    overrides = " ".join(settings.run_overrides) or "none"
    lines = [
        "",
        "## 2. Whole runs",
        "",
        "`python -m genbench.run model=<model> jax_cache=null "
        f"train.progress=false` (other overrides: {overrides}); wall time "
        "around the process, peak RSS of the process, and the parts of its "
        "metrics.json `timing`: seconds (share of the wall time). Other = "
        "imports, config, building, artifacts and plots.",
        "",
        "| model | H | steps × seeds, batch | wall, s | compile | train | eval "
        "| other | peak RSS, MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        if not r["ok"]:
            lines.append(
                f"| {r['model'].upper()} | every run failed: see "
                f"runs/{r['model']}_*/bench_stdout.log | | | | | | | |"
            )
            continue
        parts = [
            f"{format_number(r[f'{p}_seconds']['median'])} "
            f"({100 * r[f'{p}_share']['median']:.0f} %)"
            for p in ("compile", "train", "eval", "other")
        ]
        lines.append(
            f"| {r['model'].upper()} | {r['hidden']} | {r['steps']} × {r['seeds']}"
            f", {r['batch_size']} | {format_stat(r['wall_seconds'])} | "
            + " | ".join(parts)
            + f" | {format_stat(r['peak_rss_mb'])} |"
        )
    return lines
