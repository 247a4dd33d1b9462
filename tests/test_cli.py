"""genbench/run.py through the real CLI in a subprocess: artifacts of a run, Hydra
flags, signals, one-line errors (config, bit-vector and empirical targets), and
the numbers recorded by scripts/golden.py."""

from __future__ import annotations

import csv
import importlib.util
import json
import signal
from pathlib import Path

import numpy as np
import pytest

from genbench.config import ConfigError, build_run

from .conftest import CONF, EXPERIMENTS, FAST, ROOT, compose_cfg, normal_rows, run_cli


def test_single_run_writes_every_artifact(tmp_path):
    proc = run_cli(
        "model=rbm", "target=1d_trimodal", *FAST, "hydra.run.dir=run", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "ok" and m["model"] == "rbm" and m["target"] == "1d_trimodal"
    assert m["budget"] == {"params": 1600, "scope": "total"}
    assert m["hidden"] == 799 and m["n_params"] == 1600
    assert m["seeds"] == [0, 1] and len(m["metrics"]["kl"]["per_seed"]) == 2
    assert m["metrics"]["kl"]["mean"] > 0 and m["metrics"]["kl"]["std"] >= 0
    for name in (
        "kl",
        "kl_reverse",
        "js",
        "tv",
        "hellinger",
        "w1",
        "mmd",
        "kl_compat",
        "modes",
        "far",
    ):
        stat = m["metrics"][name]
        assert stat["mean"] is not None and stat["floor"] is not None, name
        lo, hi = stat["ci95"]
        assert lo <= stat["mean"] <= hi, name
    assert m["metrics"]["kl"]["floor"] < m["metrics"]["kl"]["mean"]
    assert m["timing"]["compile_seconds"] > 0 and m["environment"]["versions"]["jax"]
    # every part of the job's time (the benchmark's study section splits jobs by it)
    t, parts = m["timing"], ("compile", "train", "eval", "artifacts", "plots")
    assert t["setup_seconds"] > 0 and all(t[f"{p}_seconds"] > 0 for p in parts)
    assert sum(t[f"{p}_seconds"] for p in parts) <= t["wall_seconds"]
    span = t["setup_seconds"] + t["wall_seconds"]
    assert t["end_time"] - t["start_time"] == pytest.approx(span, abs=1e-3)
    assert t["end_time"] <= (out / "metrics.json").stat().st_mtime + 1e-3
    assert m["flops_per_step"] > 2 * 256 * 799  # at least the RBM's v @ W
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 and {"step", "seed", "kl", "w1"} <= set(rows[0])
    samples = np.load(out / "samples.npz")
    assert samples["samples"].shape == (2, 2000, 1)
    for seed in (0, 1):
        arrays = np.load(out / "params" / f"seed_{seed}.npz")
        assert arrays["w"].shape == (1, 799)
        assert (out / "params" / f"seed_{seed}.eqx").stat().st_size > 0
    for plot in ("target_vs_model.png", "curves.png", "timeline.png"):
        assert (out / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert "KL(P||Q)" in proc.stdout and "H=799" in proc.stdout
    assert "floor" in proc.stdout and "95% CI" in proc.stdout
    assert not list(out.rglob("*.tmp"))
    # one line before compiling; no run.log when nothing was logged
    compiling = "genbench: compiling rbm for 2 seed(s) on 1d_trimodal (budget 1600"
    assert f"{compiling} total, H=799)…" in proc.stderr.splitlines()
    assert not (out / "run.log").exists()


def test_hydra_flags_work(tmp_path):
    proc = run_cli("--cfg", "job", "model=vae", cwd=tmp_path)
    assert proc.returncode == 0
    assert "beta: 0.1" in proc.stdout and "params: 1600" in proc.stdout


def test_bad_value_is_one_clear_line_and_nonzero_exit(tmp_path):
    proc = run_cli("train.steps=0", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode != 0
    assert "train.steps=0 is not allowed: must be > 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (Path(tmp_path) / "run" / "metrics.json").exists()


def test_unknown_key_and_wrong_type_are_refused(tmp_path):
    proc = run_cli("train.stepz=10", cwd=tmp_path)
    assert proc.returncode != 0 and "stepz" in proc.stderr
    proc = run_cli("train.steps=many", cwd=tmp_path)
    assert proc.returncode != 0 and "train.steps" in proc.stderr
    proc = run_cli("model=nope", cwd=tmp_path)
    assert proc.returncode != 0 and "gan" in proc.stderr  # Hydra lists the options


def test_budget_too_small_names_the_smallest_feasible(tmp_path):
    proc = run_cli("model=gan", "budget.params=5", cwd=tmp_path)
    assert proc.returncode != 0
    assert "smallest feasible budget is 23" in proc.stderr


def _start_and_wait_for_progress(tmp_path, *args):
    """Start the CLI and return once its progress bar shows a first KL value."""
    import os
    import subprocess
    import sys
    import time

    # The child must receive SIGINT as from a terminal. An ignored SIGINT is
    # inherited and kept (a shell runs a script's background jobs, such as this
    # suite, with SIGINT ignored); a handled one is reset to the default at exec.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "genbench.run", *args],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    seen = b""
    deadline = time.monotonic() + 240
    while b"kl=" not in seen and time.monotonic() < deadline:
        chunk = proc.stderr.read1(256)
        if not chunk:
            break
        seen += chunk
    assert b"kl=" in seen, seen.decode(errors="replace")
    return proc


LONG_RUN = (
    "model=vae",
    "train.seeds=3",
    "train.steps=2000000",
    "train.snapshot_percent=0.01",
    "train.snapshot_eval_samples=500",
    "jax_cache=null",
)


def _check_interrupted_run(run: Path, out: bytes, err: bytes) -> None:
    """What an interrupted run leaves: its completed snapshots, nothing half-done."""
    assert b"stopping after the current snapshot" in err
    m = json.loads((run / "metrics.json").read_text())
    assert m["status"] == "interrupted" and 0 < m["steps_done"] < 2_000_000
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and max(int(r["step"]) for r in rows) == m["steps_done"]
    assert m["metrics"]["kl"]["mean"] is not None
    assert (run / "plots" / "curves.png").exists()
    assert not list(run.rglob("*.tmp")) and not (run / "samples.npz").exists()
    assert b"INTERRUPTED" in out


def test_sigterm_saves_completed_snapshots_and_exits_nonzero(tmp_path):
    proc = _start_and_wait_for_progress(tmp_path, *LONG_RUN, "hydra.run.dir=run")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode(errors="replace")
    _check_interrupted_run(tmp_path / "run", out, err)


def test_ctrl_c_in_a_sweep_saves_the_running_job_and_starts_no_other(tmp_path):
    proc = _start_and_wait_for_progress(
        tmp_path, "-m", *LONG_RUN, "train.seed=0,7", "hydra.sweep.dir=sweep"
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode(errors="replace")
    (first,) = (tmp_path / "sweep").glob("0_*")
    _check_interrupted_run(first, out, err)
    assert not list((tmp_path / "sweep").glob("1_*/metrics.json"))
    assert b"not run (interrupted)" in err and b"train.seed=7" in err
    assert b"sweep interrupted; re-run the same command" in err
    # The summary lists both jobs as not ok and takes no number from them.
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    done = json.loads((first / "metrics.json").read_text())["steps_done"]
    assert f"| interrupted | {done} of 2000000 | 0, 1, 2 | not counted |" in summary
    assert "| missing | — | — | not counted; no metrics.json |" in summary
    assert "| 1600 | — | — |" in summary  # budget, vae, floor: no value


def test_second_signal_stops_at_once_first_only_asks(capfd):
    import os
    import time

    from genbench.session import Session, stop_on_signal

    session = Session()
    # as started from a terminal (this suite may run with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # the signals are counted by a thread (it sees them while the main
        # thread is inside a compile): wait for it; a long grace, so that the
        # test process is never ended
        with stop_on_signal(session, grace=60):
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 10
            while not session.stop and time.monotonic() < deadline:
                time.sleep(0.01)
            assert session.stop is True and session.signals == 1
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)
            assert session.signals == 2
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.set_wakeup_fd(-1) == -1  # the wakeup fd is given back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "stopping after the current snapshot" in capfd.readouterr().err


def test_a_signal_ignored_on_entry_stays_ignored():
    from genbench.session import stop_on_signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_on_signal():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert callable(signal.getsignal(signal.SIGTERM))
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_full_traceback_on_request(tmp_path):
    proc = run_cli("train.steps=0", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "train.steps=0" in proc.stderr


def test_every_seed_running_away_is_recorded_and_exits_nonzero(tmp_path):
    # The example: finite but huge parameters, samples all far away.
    # It ended `ok`; a runaway is now recorded and fails the run like divergence.
    fast = [o for o in FAST if not o.startswith("train.steps")]
    proc = run_cli(
        "model=gan",
        "model.lr=1e12",
        "train.steps=400",
        *fast,
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "failed"
    for s in m["seed_status"]:
        assert s["status"] == "runaway" and s["step"] >= 0 and s["max_param"] > 1e6
    assert m["metrics"]["kl"]["mean"] is None
    assert all(v is None for v in m["metrics"]["kl"]["per_seed"])
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("  runaway")]
    assert "seed 0 at step" in line and "seed 1 at step" in line


def test_kl_and_its_floor_stay_nonnegative_when_bounds_cut_off_the_target(tmp_path):
    # The example: most of 1d_bimodal lies outside [-1, 1]; KL was < 0.
    proc = run_cli(
        "model=vae",
        "target=1d_bimodal",
        "target.bounds=[-1,1]",
        *FAST,
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for name in ("kl", "kl_reverse", "js", "tv", "hellinger"):
        stat = m["metrics"][name]
        assert min(stat["per_seed"]) > 0 and stat["floor"] >= 0, name
        assert stat["ci95"][0] >= 0, name
    assert m["metrics"]["lost"]["floor"] > 0.8  # the target's own mass outside
    assert m["modes_total"] == 2
    assert "modes " in proc.stdout and "/2" in proc.stdout


def test_unwritable_output_folder_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli("hydra.run.dir=a_file/run", cwd=tmp_path)
    assert proc.returncode == 1
    assert "hydra.run.dir='a_file/run' is not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr


CONFIG_ERRORS = [
    ("budget.params=0", "budget.params=0 is not allowed: must be > 0"),
    ("bins.n=1", "bins.n=1 is not allowed: 0 or >= 2"),
    ("train.seeds=0", "train.seeds=0 is not allowed: must be > 0"),
    ("train.devices=0", "train.devices=0 is not allowed: must be null"),
    ("train.snapshot_percent=101", "train.snapshot_percent=101.0 is not allowed"),
    ("model.lr=-1", "model.lr=-1.0 is not allowed: must be > 0"),
    ("target.weights=[0.5,0.2,0.2]", "weights must be non-negative and sum to 1"),
    ("target.stds=[0.3,0,0.3]", "every std must be > 0"),
    ("target.means=[0,1]", "target.means=[0.0, 1.0] and target.stds=[0.35, 0.35, 0."),
]


@pytest.mark.parametrize("override, message", CONFIG_ERRORS)
def test_configuration_errors_are_one_line_naming_the_key(override, message):
    # What the CLI prints after "genbench: error: " (checked through the CLI below).
    with pytest.raises(ConfigError) as err:
        build_run(compose_cfg(override))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_configuration_errors_through_the_cli(tmp_path):
    # A config group's check and a class's own check (the target's), one CLI
    # process each; the other messages take the same path (see above).
    for override, message in (CONFIG_ERRORS[0], CONFIG_ERRORS[-1]):
        proc = run_cli(override, "hydra.run.dir=run", cwd=tmp_path)
        assert proc.returncode == 1
        lines = [line for line in proc.stderr.splitlines() if "genbench: error" in line]
        assert len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "run" / "metrics.json").exists()
    # control: a valid override composes and passes
    assert run_cli("--cfg", "job", "target=2d_gmm", cwd=tmp_path).returncode == 0


@pytest.mark.slow  # two CLI runs; scripts/golden.py (slow) checks the same, exactly
def test_same_config_and_seed_give_identical_metrics(tmp_path):
    runs = []
    for name in ("a", "b"):
        proc = run_cli(
            "model=rbm", "bins.n=7", *FAST, f"hydra.run.dir={name}", cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0]["metrics"] == runs[1]["metrics"]
    assert runs[0]["environment"]["versions"] == runs[1]["environment"]["versions"]


def _needs_multirun(experiment: str) -> bool:
    """Whether `+experiment=<name>` composes with the NeedsMultirun callback."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[f"+experiment={experiment}"],
            return_hydra_config=True,
        )
    return "needs_multirun" in cfg.hydra.callbacks


def test_every_sweep_experiment_is_marked_as_needing_multirun():
    # a sweep: sweeper params, or a sweeper of its own (tuning); marked by its key
    marked = {e for e in EXPERIMENTS if _needs_multirun(e)}
    assert marked == {"budget_curve", "grid", "original", "tune", "tune_all"}


@pytest.mark.parametrize("experiment", ["original", "tune_all"])
def test_a_sweep_experiment_without_m_is_refused_and_writes_nothing(
    tmp_path, experiment
):
    proc = run_cli(f"+experiment={experiment}", "target=1d_bimodal", cwd=tmp_path)
    assert proc.returncode == 1
    hint = (
        "genbench: error: this experiment is a sweep and needs -m: "
        f"python -m genbench.run -m +experiment={experiment} target=1d_bimodal"
    )
    assert proc.stderr.strip() == hint
    assert list(tmp_path.iterdir()) == []


def test_a_refused_run_leaves_no_folder(tmp_path):
    proc = run_cli("train.steps=0", cwd=tmp_path)  # the default outputs/<date>/<time>
    assert proc.returncode == 1 and "train.steps=0 is not allowed" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    # a folder that held something keeps it, without Hydra's files
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    proc = run_cli("train.steps=0", "hydra.run.dir=mine", cwd=tmp_path)
    assert proc.returncode == 1
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_m_with_cfg_is_hydras_one_line_message(tmp_path):
    proc = run_cli("-m", "model=gan,vae", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "genbench: error: Only one of --run, --multirun, --cfg, --info and "
        "--shell_completion can be specified"
    )


def test_settings_a_run_ignores_are_warned_about_in_run_log(tmp_path):
    # an RBM samples one-hot states: bins.decode does not apply; 64 devices
    # are more than this machine's cores
    proc = run_cli(
        "model=rbm", "bins.n=5", "bins.decode=soft", "train.devices=64", *FAST,
        "hydra.run.dir=run", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "run" / "run.log").read_text().splitlines()
    assert len(log) == 2
    assert "bins.decode='soft' has no effect here (rbm: states" in log[0]
    assert "train.devices=64 is more than the" in log[1] and "using" in log[1]
    assert "[WARNING]" in log[0] and "bins.decode='soft'" in proc.stdout


def test_second_signal_stops_at_once_even_while_compiling(tmp_path):
    import subprocess
    import sys
    import time

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:  # as started from a terminal (see _start_and_wait_for_progress)
        proc = subprocess.Popen(
            [sys.executable, "-m", "genbench.run", *LONG_RUN, "hydra.run.dir=run"],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    seen = b""
    while b"genbench: compiling" not in seen:  # the compile starts now
        chunk = proc.stderr.read1(256)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    err = seen + proc.communicate(timeout=120)[1]
    assert time.monotonic() - sent < 3, "the second signal waited for the compile"
    assert proc.returncode == 130, err.decode(errors="replace")
    assert err.rstrip().endswith(b"genbench: interrupted")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_cli_refuses_bad_bars_and_stripes_in_one_line(tmp_path):
    fast = [o for o in FAST if "eval_samples" not in o]
    few = ["train.eval_samples=500", "train.snapshot_eval_samples=500"]
    for args, message in (
        (["target.n=5"], "target.n=5"),
        (["bins.n=16"], "bins.n=16"),
        (few, "target.coverage_samples=1000"),  # coverage needs 1000 samples
    ):
        if args is not few:
            args = [
                *args,
                "train.eval_samples=2000",
                "train.snapshot_eval_samples=2000",
            ]
        proc = run_cli(
            "target=binary_bars_stripes",
            *args,
            *fast,
            f"hydra.run.dir={tmp_path / 'run'}",
            cwd=tmp_path,
        )
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "run" / "metrics.json").exists()


def test_cli_runs_a_relative_file_and_refuses_a_bad_one(tmp_path):
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "d.npy", normal_rows(1000))
    proc = run_cli(
        "model=vae",
        "target=empirical",
        "target.path=data/d.npy",
        *FAST,
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "ok" and m["target"] == "empirical"
    kl = m["metrics"]["kl"]
    # the train part scored against the held-out part: not a lower bound (a
    # model that smooths can beat memorising 800 rows), but never 0
    assert (
        kl["floor"] > 0 and np.isfinite(kl["mean"]) and m["metrics"]["w1"]["floor"] > 0
    )
    assert m["hist_bins"] == [5, 5]  # sqrt(200 held-out rows / 10), at least 5
    # a 2D run writes the scatter figure (was test_plots.py's own CLI run)
    png = tmp_path / "run" / "plots" / "scatter.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    rows = normal_rows(1000)
    rows[5, 0] = np.nan
    np.save(tmp_path / "data" / "bad.npy", rows)
    for path, problem in (
        ("data/bad.npy", "1 of 1000 rows hold NaN or Inf"),
        ("data/none.npy", "no such file"),
        (None, "give the data file"),
    ):
        args = ["target=empirical", "hydra.run.dir=bad"]
        if path:
            args.append(f"target.path={path}")
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 1
        lines = [x for x in proc.stderr.splitlines() if "genbench: error" in x]
        assert len(lines) == 1 and problem in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "bad" / "metrics.json").exists()


def _golden():
    spec = importlib.util.spec_from_file_location(
        "golden", ROOT / "scripts" / "golden.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_reports_a_changed_number():
    golden = _golden()
    old = {
        "jobs": {"0": {"metrics": {"kl": {"mean": 0.5}}, "history": [{"kl": "0.1"}]}}
    }
    new = {
        "jobs": {
            "0": {"metrics": {"kl": {"mean": 0.5}}, "history": [{"kl": "0.1000001"}]}
        }
    }
    assert golden.compare(old, old, 0.0) == []
    assert golden.compare(old, new, 0.0) == [
        "/jobs/0/history[0]/kl: '0.1' != '0.1000001'"
    ]
    assert golden.compare(old, new, 1e-5) == []


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(_golden().CASES))
def test_same_numbers_as_recorded(case, capsys):
    assert _golden().main(["--cases", case]) == 0, capsys.readouterr().out


# Mistakes Hydra itself catches while composing: one line (genbench/overrides.py),
# the override, what is allowed and the closest name; exit 1; no output folder.
HYDRA_MISTAKES = {
    "unknown-key": (
        ["model.lrr=1"],
        "model.lrr=1: model=gan has no key 'lrr'",
        "did you mean model.lr? keys: optimizer, lr,",
    ),
    "misspelt-group": (
        ["modle=vae"],
        "modle=vae: no group 'modle'",
        "did you mean model? groups: target, model, budget, bins, train,",
    ),
    "unknown-option": (
        ["model=vea"],
        "model=vea: no option 'vea' in group model",
        "did you mean vae? options: gan, gan_original, rbm, rbm_original, vae,",
    ),
    "wrong-type": (
        ["train.steps=abc"],
        "train.steps=abc: must be an integer",
        "",
    ),
    "in-a-sweep": (
        ["-m", "model=gan,vea", "train.steps=1,2"],
        "model=vea: no option 'vea' in group model",
        "did you mean vae?",
    ),
    "user-config-dir": (
        ["--config-dir", str(CONF.parents[1] / "docs/extend/conf"), "model=gmn"],
        "model=gmn: no option 'gmn' in group model",
        "did you mean gmm? options: gan, gan_original, gmm, rbm,",
    ),
}


@pytest.mark.parametrize(
    "args, problem, allowed", HYDRA_MISTAKES.values(), ids=HYDRA_MISTAKES.keys()
)
def test_a_mistake_hydra_catches_is_one_line_and_writes_nothing(
    tmp_path, args, problem, allowed
):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"genbench: error: {problem}"), lines[0]
    assert allowed in lines[0]
    assert not (tmp_path / "outputs").exists()
    assert not (tmp_path / "multirun").exists()


def test_hydra_full_error_keeps_hydras_own_report(tmp_path):
    proc = run_cli("model.lrr=1", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode == 1
    assert "genbench: error" not in proc.stderr
    assert "Traceback" in proc.stderr and "ConfigCompositionException" in proc.stderr
    assert "Key 'lrr' is not in struct" in proc.stderr
