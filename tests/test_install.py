"""A normal (non-editable) install: build a wheel, install it into a fresh virtual
environment and run the `genbench` console script from a folder outside the
repository, as a cluster or container user would.

The fresh environment gets genbench from the wheel alone. Its dependencies (JAX,
Hydra, ...) are not downloaded: a `.pth` file puts this environment's
site-packages after its own on `sys.path` (a path line only: the `.pth` files
there, such as an editable install of genbench, are not run). PYTHONPATH is
removed, so nothing of the repository is importable. It runs in the default
suite, so CI runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from .conftest import FAST, ROOT


def _builds_wheels_here() -> bool:
    """Whether this environment's setuptools builds a wheel by itself (it has
    `bdist_wheel` from 70.1 on; older ones need the `wheel` package), so that
    pip needs no isolated build environment (and no index) to build one."""
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _run(args: list, cwd: Path, env: dict, timeout: float = 300):
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_a_built_wheel_installed_in_a_fresh_venv_runs_outside_the_repository(
    tmp_path,
):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HYDRA_FULL_ERROR"] = "0"
    env.pop("PYTEST_CURRENT_TEST", None)
    # Build from a copy of the sources: the build writes build/ and *.egg-info.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "outputs", "multirun", "build", "dist", "*.egg-info",
            "__pycache__", ".pytest_cache", ".ruff_cache", "bench_results",
        ),
    )  # fmt: skip
    # Else pip builds in an isolated environment, with setuptools from its index.
    flags = ["--no-build-isolation"] if _builds_wheels_here() else []
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *flags, "-w", "dist", "."],
        cwd=src,
        env=env,
    )
    (wheel,) = (src / "dist").glob("genbench-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    # --ignore-installed: this environment's (editable) genbench is visible
    # through the .pth file; the wheel goes into the fresh one regardless.
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--no-index", "--ignore-installed", wheel],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([python, "-c", "import genbench; print(genbench.__file__)"], work, env)
    assert Path(where.stdout.strip()).is_relative_to(venv)

    genbench = venv / "bin" / "genbench"
    helped = _run([genbench, "--help"], work, env)
    # the options and their comments, read from the installed package's YAML
    assert "\n  gan_original  The original script's GAN" in helped.stdout
    assert "\n  1d_beta              Beta(2, 5)" in helped.stdout
    assert "schema/" not in helped.stdout
    # the module entry point finds the shipped configs too
    _run([python, "-m", "genbench.run", "--help"], work, env)
    # a user's --config-dir adds to the shipped groups
    shutil.copytree(ROOT / "docs" / "extend" / "conf", work / "mine")
    extended = _run([genbench, "--config-dir", "mine", "--help"], work, env)
    assert "two_squares" in extended.stdout and "1d_trimodal" in extended.stdout

    fast = [a for a in FAST if a != "train.seeds=2"]
    ran = _run(
        [genbench, "model=vae", "target=1d_bimodal", "train.seeds=1", *fast],
        work,
        env,
    )
    (metrics,) = (work / "outputs").glob("*/*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["status"] == "ok" and m["model"] == "vae" and m["seeds"] == [0]
    assert "vae on 1d_bimodal" in ran.stdout

    report = _run([venv / "bin" / "genbench-report", "outputs"], work, env)
    assert "vae" in report.stdout and "1d_bimodal" in report.stdout
