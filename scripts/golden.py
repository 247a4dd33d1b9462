"""Golden outputs: tiny CLI runs whose numbers a refactoring must not change.

`--record` runs each case of CASES through the real CLI (`python -m genbench.run`)
and stores, per case, the `metrics` block, `hidden`, the parameter counts and
`history.csv` of every run in `scripts/golden/<case>.json`. Without it the same
runs are made again and compared with the stored files: exactly (the default), or
to a relative tolerance with `--rtol` where a change of program layout
legitimately moves float rounding (say so in the commit). Exit 1 on any
difference, listing it.

    python scripts/golden.py --record        # on the code to keep the numbers of
    python scripts/golden.py                 # after a change: same numbers?
    python scripts/golden.py --cases gan_cont vae_bins   # some cases only

The runs use XLA's default flags (`XLA_FLAGS` is unset for them), so the numbers
are those a user gets, not the tests' cheaper optimisation level.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"

# Fixed, not tests/conftest.py's FAST: the recorded numbers depend on them.
TINY = [
    "train.steps=200",
    "train.seeds=2",
    "train.snapshot_percent=50",
    "train.eval_samples=2000",
    "train.snapshot_eval_samples=2000",
    "train.progress=false",
]
# name -> (overrides, multirun?)
CASES: dict[str, tuple[list[str], bool]] = {
    **{
        f"{m}_cont": ([f"model={m}", "target=1d_trimodal", "bins.n=0"], False)
        for m in ("gan", "vae", "rbm")
    },
    **{
        f"{m}_bins": ([f"model={m}", "target=1d_trimodal", "bins.n=7"], False)
        for m in ("gan", "vae", "rbm")
    },
    "gan_2d_gmm": (["model=gan", "target=2d_gmm"], False),
    "sweep_vae_rbm": (
        ["model=vae,rbm", "target=1d_bimodal", "budget.params=400"],
        True,
    ),
}
KEEP = ("hidden", "n_params", "n_params_total", "n_params_sampler", "metrics")


def _job(folder: Path) -> dict:
    """The kept fields of metrics.json and the rows of history.csv of one run."""
    record = json.loads((folder / "metrics.json").read_text())
    with open(folder / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    return {
        "status": record["status"],
        **{k: record[k] for k in KEEP},
        "history": history,
    }


def run_case(name: str, cache: str) -> dict:
    overrides, multirun = CASES[name]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["HYDRA_FULL_ERROR"] = "1"
    with tempfile.TemporaryDirectory(prefix="genbench-golden-") as tmp:
        out = Path(tmp) / "out"
        where = f"hydra.sweep.dir={out}" if multirun else f"hydra.run.dir={out}"
        cmd = [sys.executable, "-m", "genbench.run", *(["-m"] if multirun else [])]
        cmd += [*overrides, *TINY, f"jax_cache={cache}", where]
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        if not multirun:
            return {"overrides": overrides, "jobs": {"0": _job(out)}}
        jobs = sorted(p for p in out.iterdir() if (p / "metrics.json").exists())
        return {"overrides": overrides, "jobs": {p.name: _job(p) for p in jobs}}


def compare(old, new, rtol: float, path: str = "") -> list[str]:
    """Every difference between two JSON trees, as `path: old != new`."""
    if isinstance(old, dict) and isinstance(new, dict):
        diffs = [f"{path}/{k}: missing" for k in old if k not in new]
        diffs += [f"{path}/{k}: new" for k in new if k not in old]
        for k in old.keys() & new.keys():
            diffs += compare(old[k], new[k], rtol, f"{path}/{k}")
        return diffs
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: length {len(old)} != {len(new)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in compare(a, b, rtol, f"{path}[{i}]")
        ]
    if old == new:
        return []
    try:  # numbers (history.csv holds them as text)
        a, b = float(old), float(new)
    except (TypeError, ValueError):
        return [f"{path}: {old!r} != {new!r}"]
    if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=0):
        return []
    return [f"{path}: {old!r} != {new!r}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="store the outputs")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--rtol", type=float, default=0.0, help="relative tolerance")
    ap.add_argument("--cache", default=None, help="JAX compilation cache folder")
    args = ap.parse_args(argv)
    GOLDEN.mkdir(exist_ok=True)
    bad = 0
    with tempfile.TemporaryDirectory(prefix="genbench-golden-cache-") as tmp_cache:
        for name in args.cases:
            got = run_case(name, args.cache or tmp_cache)
            file = GOLDEN / f"{name}.json"
            if args.record:
                file.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
                print(f"{name}: recorded {file.relative_to(ROOT)}")
                continue
            want = json.loads(file.read_text())
            diffs = compare(want, json.loads(json.dumps(got)), args.rtol)
            bad += bool(diffs)
            print(f"{name}: {'same' if not diffs else f'{len(diffs)} difference(s)'}")
            for d in diffs[:20]:
                print("   ", d)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
