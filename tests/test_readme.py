"""The README's commands run as written, with tiny steps: it stays true as the
code changes. The quick start's job runs in the default suite; every other
`python -m genbench.run` command of the README is `slow`."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from .conftest import FAST, ROOT, run_cli

# Keys the test sets itself (tiny runs); the README's own values are dropped.
TINY_KEYS = {o.split("=", 1)[0] for o in FAST}


def readme_commands() -> list[str]:
    """Every `python -m genbench.run ...` line of the README's code blocks
    (continuation lines joined, comments dropped), in order, without repeats."""
    text = (ROOT / "README.md").read_text()
    found: list[str] = []
    for block in re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            at = line.find("python -m genbench.run")
            if at < 0:
                continue
            args = shlex.split(line[at:], comments=True)[3:]
            cmd = shlex.join(args)
            if cmd not in found:
                found.append(cmd)
    return found


def _runnable(cmd: str) -> str | None:
    """Why a README command cannot run here, or None."""
    if "<" in cmd:
        return "has a placeholder"
    if "hydra/launcher=slurm" in cmd:
        return "needs a SLURM cluster"
    if "target=empirical" in cmd:
        return "needs the user's data file"
    if "--config-dir multirun/tune" in cmd:
        return "needs a tuning run's presets (tests/test_tune.py runs that path)"
    if "--config-dir conf" in cmd:
        return "runs in docs/extend (tests/test_extension.py runs it)"
    return None


COMMANDS = readme_commands()
QUICK_START = "model=gan target=1d_trimodal train.seeds=2"


def test_the_readme_holds_the_quick_start_and_examples():
    assert COMMANDS[0] == QUICK_START  # the quick start's main job comes first
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize(
    "cmd",
    [
        pytest.param(
            c,
            marks=[pytest.mark.slow] * (c != QUICK_START)
            + [pytest.mark.skip(reason=_runnable(c))] * bool(_runnable(c)),
        )
        for c in COMMANDS
    ],
)
def test_readme_command_runs(cmd, tmp_path):
    args = [a for a in shlex.split(cmd) if a.split("=", 1)[0] not in TINY_KEYS]
    tiny = FAST
    if "+experiment=tune" in cmd:  # tune and tune_all
        # the sweeper owns train.steps and train.seeds: a tiny search through it
        tiny = [o for o in FAST if not o.startswith(("train.steps=", "train.seeds="))]
        tiny += [
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_startup_trials=1",
            "hydra.sweeper.trial.steps=100",
            "hydra.sweeper.trial.seeds=2",
            "hydra.sweeper.retrain.steps=100",
            "hydra.sweeper.retrain.seeds=2",
        ]
    proc = run_cli(*args, *tiny, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in tmp_path.rglob("metrics.json")]
    assert records, "no run was written"
    assert all(r["status"] in ("ok", "partial") for r in records), [
        r["status"] for r in records
    ]
