"""Equal-effort tuning (+experiment=tune): the Optuna sweeper through the real CLI,
and the pieces of genbench.tune (search spaces, trial results, presets, summary)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from genbench import artifacts, tune
from genbench.config import build_run

from .conftest import CONF, FAST, run_cli

needs_optuna = pytest.mark.skipif(
    find_spec("optuna") is None, reason="Optuna not installed: pip install -e '.[tune]'"
)

# Tiny but complete searches: the run settings of FAST, the steps and seeds that
# the sweeper owns set through it, TPE after one random trial.
RUN = [o for o in FAST if not o.startswith(("train.steps=", "train.seeds="))]
TUNE = [
    "-m",
    "+experiment=tune",
    *RUN,
    "hydra.sweeper.trial.steps=100",
    "hydra.sweeper.trial.seeds=2",
    "hydra.sweeper.retrain.steps=100",
    "hydra.sweeper.retrain.seeds=2",
    "hydra.sweeper.n_startup_trials=1",
]


def _state(sweep: Path) -> dict:
    return json.loads((sweep / "tune.json").read_text())


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


# --- search spaces -----------------------------------------------------------------


def test_dimensions_parse_every_kind_of_hydra_sweep():
    d = tune.parse_dimension("model.lr", "tag(log, interval(1e-4, 1e-2))", "w")
    assert (d.kind, d.low, d.high, d.log) == ("float", 1e-4, 1e-2, True)
    d = tune.parse_dimension("model.cd_k", "int(interval(1, 5))", "w")
    assert (d.kind, d.low, d.high, d.log) == ("int", 1, 5, False)
    d = tune.parse_dimension("model.cd_k", "range(1, 10, 3)", "w")  # 1, 4, 7
    assert (d.kind, d.low, d.high, d.step) == ("int", 1, 7, 3)
    d = tune.parse_dimension("train.batch_size", "choice(64, 128)", "w")
    assert (d.kind, d.choices, d.candidates()) == ("categorical", (64, 128), [64, 128])
    d = tune.parse_dimension("model.schedule", "constant,cosine", None)
    assert d.choices == ("constant", "cosine")
    if find_spec("optuna"):
        dist = tune.parse_dimension("model.x", "tag(log, interval(1, 8))", "w")
        assert dist.distribution().log and dist.distribution().high == 8


@pytest.mark.parametrize(
    "text, why",
    [
        ("interval(1e-2, 1e-3)", "empty range: low 0.01 must be < high 0.001"),
        ("interval(1, 1)", "empty range"),
        ("range(5, 1)", "empty range"),
        ("range(1, 2)", "empty range"),
        ("choice(cosine)", "empty choices"),
        ("tag(log, interval(0, 1))", "a log scale needs low > 0"),
        ("tag(loq, interval(1, 2))", "unknown tag ['loq']"),
        ("0.1", "a fixed value is not a search dimension"),
        ("interval(1,", "not Hydra sweep syntax"),
        ("choice(1, 1)", "listed twice"),
    ],
)
def test_a_bad_dimension_is_one_line_naming_key_and_value(text, why):
    with pytest.raises(tune.TuneError) as err:
        tune.parse_dimension("model.lr", text, "hydra.sweeper.spaces.gan")
    message = str(err.value)
    assert message.startswith(f"hydra.sweeper.spaces.gan.model.lr={text!r}")
    assert why in message and "\n" not in message


def test_the_shipped_spaces_parse_and_search_no_loss_setting():
    for family in ("gan", "vae", "rbm"):
        file = CONF / "tune" / f"{family}.yaml"
        lines = [x for x in file.read_text().splitlines() if x and x[0] != "#"]
        assert all("  # " in x for x in lines)  # each dimension says why
        space = OmegaConf.to_container(OmegaConf.load(file))
        dims = [tune.parse_dimension(k, v) for k, v in space.items()]
        assert len(dims) == len(lines) >= 3
        keys = {d.key for d in dims}
        assert not keys & {"model.beta", "model.real_label", "model.binned_loss"}
        assert all(d.log for d in dims if d.key.startswith("model.lr"))


@pytest.mark.parametrize("value", [0.1, 1e-05, 3, True, None, "cosine", "it's"])
def test_format_value_round_trips_through_hydra(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(f"k={tune.format_value(value)}")
    assert parsed.value() == value and type(parsed.value()) is type(value)


# --- results, presets, summary ------------------------------------------------------


def _write_metrics(folder: Path, status: str, per_seed=(0.2, 0.4), **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ok = [{"seed": i, "status": "ok"} for i in range(len(per_seed))]
    if status in ("failed", "partial"):
        ok[0] = {"seed": 0, "status": "diverged", "step": 5}
    values = np.array([np.nan if v is None else v for v in per_seed])
    kl = artifacts._clean(artifacts.seed_stats(values))
    record = {  # the fields a job's metrics.json has that the summaries read
        "model": "m",
        "target": "t",
        "bins": 0,
        "budget": {"params": 1600, "scope": "total"},
        "hidden": 8,
        "n_params": 1600,
        "steps": 100,
        "timing": {"wall_seconds": 1.0},
        "status": status,
        "seeds": list(range(len(per_seed))),
        "seed_status": ok,
        "metrics": {"kl": kl},
        **extra,
    }
    (folder / "metrics.json").write_text(json.dumps(record))
    return folder


def test_read_result_maps_each_job_outcome(tmp_path):
    ok = tune.read_result(_write_metrics(tmp_path / "a", "ok"))
    assert ok == tune.TrialResult("complete", value=pytest.approx(0.3))
    for status, reason in (
        ("failed", "1 of 2 seed(s) diverged"),
        ("partial", "1 of 2 seed(s) diverged"),  # a mean of survivors would flatter
    ):
        got = tune.read_result(_write_metrics(tmp_path / status, status))
        assert (got.state, got.reason) == ("fail", reason)
    null = tune.read_result(_write_metrics(tmp_path / "n", "ok", per_seed=(None,)))
    assert (null.state, null.reason) == ("fail", "KL is null")
    err = tmp_path / "e"
    err.mkdir()
    (err / "metrics.json").write_text('{"status": "error", "error": "Boom: x"}')
    assert tune.read_result(err) == tune.TrialResult("fail", reason="error: Boom: x")
    assert tune.read_result(tmp_path / "none").state == "unfinished"
    stopped = tune.read_result(_write_metrics(tmp_path / "i", "interrupted"))
    assert stopped.state == "unfinished"


def test_presets_compose_into_the_tuned_config(tmp_path):
    params = {"model.lr": 0.0042, "model.cd_k": 3, "train.batch_size": 128}
    paths = tune.write_presets(tmp_path / "tuned", "rbm", params, "note\nline two")
    text = paths["model"].read_text()
    assert text.startswith("# note\n# line two\n") and "batch_size" not in text
    search = f"hydra.searchpath=[file://{tmp_path / 'tuned'}]"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[search, "model=rbm_tuned"])
        full = compose("config", overrides=[search, "+experiment=rbm_tuned"])
    assert (cfg.model.lr, cfg.model.cd_k, cfg.model.sigma) == (0.0042, 3, 0.2)
    assert cfg.train.batch_size == 256  # a model preset changes the model only
    assert (full.model.lr, full.train.batch_size) == (0.0042, 128)
    spec = build_run(full)
    assert spec.family.lr == 0.0042 and spec.settings.batch_size == 128


def _study(model: str, lr_best: float, trials: list) -> dict:
    return {
        "study_name": f"t/{model}",
        "storage_label": "sqlite:///x.db",
        "n_trials": 2,
        "status": "done",
        "trial": {"steps": 100, "seeds": 2, "seed": 0},
        "retrain": {"enabled": True, "steps": 400, "seeds": 3, "seed": 1000},
        "sampler": {"name": "TPESampler", "seed": 0, "n_startup_trials": 1},
        "space": {"model.lr": "tag(log, interval(1e-4, 1e-2))"},
        "defaults": {"model.lr": 1e-3},
        "trials": trials,
        "best": {"number": 1, "value": 0.2, "params": {"model.lr": lr_best}},
        "presets": None,
        "retrain_jobs": {
            "default": f"{model}/retrain_default",
            "tuned": f"{model}/retrain_tuned",
        },
    }


def test_summary_compares_default_and_tuned_and_flags_a_stale_retrain(tmp_path):
    trials = [
        {"number": 0, "state": "COMPLETE", "value": 0.5, "params": {}, "folder": None},
        {"number": 1, "state": "COMPLETE", "value": 0.2, "params": {}, "folder": None},
        {
            "number": 2,
            "state": "FAIL",
            "value": None,
            "params": {},
            "folder": "x/t2",
            "reason": "2 of 2 seed(s) diverged",
        },
    ]
    state = {
        "setting": {
            "target": "1d_trimodal",
            "budget": 1600,
            "scope": "total",
            "bins": 0,
        },
        "studies": {
            "gan": _study("gan", 0.003, trials),
            "vae": _study("vae", 0.002, trials),
            "rbm": _study("rbm", 0.004, trials),
        },
    }
    (tmp_path / "tune.json").write_text(json.dumps(state))
    for model, lr, values in (
        ("gan", 0.003, (0.1, 0.12, 0.14)),
        ("vae", 0.005, (0.3, 0.3, 0.3)),
        ("rbm", 0.004, (0.13, 0.2, 0.27)),
    ):
        for which, used, kl in (
            ("default", 1e-3, (0.5, 0.6, 0.7)),
            ("tuned", lr, values),
        ):
            _write_metrics(
                tmp_path / model / f"retrain_{which}",
                "ok",
                per_seed=kl,
                config={"model": {"lr": used}},
            )
    failures = tune.write_summary(tmp_path)
    assert failures == []
    md = (tmp_path / "summary.md").read_text()
    assert "2 trials × 2 seeds × 100 steps = 400 seed-steps" in md
    assert "(the same for every model)" in md and "fresh seeds (1000–1002" in md
    gan = next(x for x in md.splitlines() if x.startswith("| gan |"))
    vae = next(x for x in md.splitlines() if x.startswith("| vae |"))
    assert "| 0.6000 ± 0.1000 [0.3516, 0.8484] (3) |" in gan  # the default
    assert "| 0.6000 ± 0.1000" in vae
    assert "#1: 0.2000 | 2 / 1 / 0 of 2 |" in gan
    rbm = next(x for x in md.splitlines() if x.startswith("| rbm |"))
    # the vae's retrain ran another lr than its best trial's: not shown as tuned
    assert "stale" in vae and "stale" not in gan + rbm
    assert "| **0.1200 ± 0.0200 [0.0703, 0.1697] (3)** |" in gan  # lowest tuned
    assert "| ≈ 0.2000 ± 0.0700" in rbm  # its interval overlaps the best one's
    assert "- #2 `x/t2`: 2 of 2 seed(s) diverged" in md
    for png in ("tune_compare.png", "tune_history.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


# --- the sweeper through the CLI ----------------------------------------------------


@needs_optuna
@pytest.mark.slow
def test_tiny_search_resumes_to_its_budget_then_retrains_and_summarises(tmp_path):
    """2 trials, then the same command with n_trials=3 adds one (not 3); then the
    presets, the retrain on fresh seeds and the summary; the best trial's preset
    gives its number again."""
    args = [*TUNE, "model=vae", "hydra.sweep.dir=sweep"]
    first = run_cli(*args, "hydra.sweeper.n_trials=2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 trials x 2 seeds x 100 steps = 400 seed-steps" in first.stderr
    again = run_cli(*args, "hydra.sweeper.n_trials=3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2 of 3 trials done, continuing" in again.stderr
    assert again.stderr.count("genbench tune: vae trial") == 1

    import optuna

    sweep = tmp_path / "sweep"
    study = optuna.load_study(
        study_name="1d_trimodal_total1600_bins0/vae",
        storage=f"sqlite:///{sweep / 'optuna.db'}",
    )
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    trials = sorted(p.name for p in (sweep / "vae").glob("trial_*"))
    assert trials == ["trial_0000", "trial_0001", "trial_0002"]
    state = _state(sweep)["studies"]["vae"]
    best = min(study.trials, key=lambda t: t.value)
    assert state["best"]["number"] == best.number and state["status"] == "done"
    for trial in study.trials:  # the objective is the job's mean KL over its seeds
        m = _metrics(sweep / "vae" / f"trial_{trial.number:04d}")
        assert m["seeds"] == [0, 1] and m["steps"] == 100
        assert trial.value == m["metrics"]["kl"]["mean"]
        assert m["config"]["model"]["lr"] == trial.params["model.lr"]

    default = _metrics(sweep / "vae" / "retrain_default")
    tuned = _metrics(sweep / "vae" / "retrain_tuned")
    assert default["seeds"] == tuned["seeds"] == [1000, 1001]  # fresh seeds
    assert default["config"]["model"]["lr"] == 1e-3
    assert tuned["config"]["model"]["lr"] == best.params["model.lr"]
    assert tuned["config"]["train"]["batch_size"] == best.params["train.batch_size"]

    summary = (sweep / "summary.md").read_text()
    assert "3 trials × 2 seeds × 100 steps = 600 seed-steps" in summary
    row = next(x for x in summary.splitlines() if x.startswith("| vae |"))
    kl = tuned["metrics"]["kl"]
    assert f"{kl['mean']:.4f} ± {kl['std']:.4f} [{kl['ci95'][0]:.4f}" in row
    assert f"#{best.number}: {best.value:.4f}" in row and "3 / 0 / 0 of 3" in row
    for png in ("tune_compare.png", "tune_history.png"):
        assert (sweep / png).read_bytes()[:4] == b"\x89PNG"
    _rerun_preset(tmp_path, sweep, best.number)


def _rerun_preset(tmp_path: Path, sweep: Path, trial: int) -> None:
    """The preset, run with the trials' seeds and steps, gives the trial's KL."""
    rerun = run_cli(
        "--config-dir",
        str(sweep / "tuned"),
        "+experiment=vae_tuned",
        *RUN,
        "train.steps=100",
        "train.seeds=2",
        "train.seed=0",
        "hydra.run.dir=preset",
        cwd=tmp_path,
    )
    assert rerun.returncode == 0, rerun.stderr
    searched = _metrics(sweep / "vae" / f"trial_{trial:04d}")["metrics"]["kl"]
    again = _metrics(tmp_path / "preset")["metrics"]["kl"]
    np.testing.assert_allclose(again["per_seed"], searched["per_seed"], rtol=1e-6)


@needs_optuna
def test_one_trial_search_writes_a_preset_that_reproduces_it(tmp_path):
    """The sweeper through the CLI at its smallest: a trial job, told to Optuna,
    recorded, written as presets, and the preset gives the trial's number."""
    proc = run_cli(
        *TUNE,
        "model=vae",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.retrain.enabled=false",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 trials x 2 seeds x 100 steps = 200 seed-steps" in proc.stderr
    sweep = tmp_path / "sweep"
    state = _state(sweep)["studies"]["vae"]
    (trial,) = state["trials"]
    m = _metrics(sweep / "vae" / "trial_0000")
    assert trial["state"] == "COMPLETE" and m["seeds"] == [0, 1]
    assert trial["value"] == m["metrics"]["kl"]["mean"] == state["best"]["value"]
    assert m["config"]["model"]["lr"] == trial["params"]["model.lr"]
    assert (sweep / "optuna.db").exists() and (sweep / "summary.md").exists()
    _rerun_preset(tmp_path, sweep, 0)


@needs_optuna
@pytest.mark.slow
def test_a_diverging_trial_fails_and_the_search_goes_on(tmp_path):
    proc = run_cli(
        *TUNE,
        "model=vae",
        "model.lr=tag(log, interval(1e20, 1e30))",  # a command-line dimension
        "hydra.sweeper.n_trials=2",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr  # divergence is a result
    assert proc.stderr.count("FAILED (2 of 2 seed(s) diverged)") == 2
    state = _state(tmp_path / "sweep")["studies"]["vae"]
    assert [t["state"] for t in state["trials"]] == ["FAIL", "FAIL"]
    assert state["best"] is None and state["space"]["model.lr"].startswith("tag(log")
    assert not (tmp_path / "sweep" / "tuned").exists()  # nothing to preset
    assert _metrics(tmp_path / "sweep" / "vae" / "retrain_default")["status"] == "ok"
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "0 / 2 / 0 of 2" in summary and "2 of 2 seed(s) diverged" in summary


@needs_optuna
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--config-dir", "extra", "tune@hydra.sweeper.spaces.rbm=typo"],
            "hydra.sweeper.spaces.rbm.model.cd_kk='int(interval(1, 5))' is not "
            "allowed: the rbm config has no key model.cd_kk",
        ),
        (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials=0 is not allowed"),
    ],
)
def test_bad_tuning_input_is_one_line_before_any_trial(tmp_path, args, message):
    (tmp_path / "extra" / "tune").mkdir(parents=True)
    (tmp_path / "extra" / "tune" / "typo.yaml").write_text(
        "model.cd_kk: int(interval(1, 5))  # a typo\n"
    )
    proc = run_cli(
        *TUNE[:1], *args, *TUNE[1:], "model=rbm", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines == [f"genbench: error: {lines[0].split('error: ', 1)[1]}"]
    assert message in lines[0]
    # nothing written, no trial: the folder the refused search would have used
    # is not left behind (a refused run leaves no folder)
    assert not (tmp_path / "sweep").exists()


@needs_optuna
def test_a_study_started_with_other_settings_is_not_continued(tmp_path):
    import optuna

    (tmp_path / "sweep").mkdir()
    storage = f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}"
    name = "1d_trimodal_total1600_bins0/rbm"
    study = optuna.create_study(study_name=name, storage=storage)
    other = {"config": {}, "space": {}, "trial": {"steps": 5, "seeds": 1, "seed": 0}}
    study.set_user_attr("genbench", other)
    proc = run_cli(*TUNE, "model=rbm", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 1
    assert f"study {name!r} in {storage} was started with other settings" in proc.stderr
    assert not optuna.load_study(study_name=name, storage=storage).trials


@needs_optuna
@pytest.mark.slow
def test_same_seed_same_trials_and_an_interrupted_search_continues_as_if_not(
    tmp_path,
):
    """SIGTERM during trial 1 leaves it open; the same command runs it again (same
    number, settings, folder) and ends with the trials and best trial of an
    uninterrupted search with the same sampler seed."""
    args = [
        *TUNE,
        "model=vae",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.retrain.enabled=false",
    ]
    whole = run_cli(*args, "hydra.sweep.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "genbench.run", *args, "hydra.sweep.dir=cut"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:
        if "vae trial 0 (" in line:
            # trial 1 has started once its folder exists
            while not (tmp_path / "cut" / "vae" / "trial_0001").exists():
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 130
    assert _state(tmp_path / "cut")["studies"]["vae"]["trials"][1]["state"] == "RUNNING"
    resumed = run_cli(*args, "hydra.sweep.dir=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "vae trial 1 (2/3)" in resumed.stderr
    a = _state(tmp_path / "whole")["studies"]["vae"]
    b = _state(tmp_path / "cut")["studies"]["vae"]
    assert a["trials"] == b["trials"] and a["best"] == b["best"]
    assert [t["state"] for t in b["trials"]] == ["COMPLETE"] * 3


@needs_optuna
@pytest.mark.slow
def test_trials_run_in_parallel_through_joblib_with_shared_storage(tmp_path):
    db = tmp_path / "shared.db"
    proc = run_cli(
        *TUNE,
        "model=rbm",
        "hydra/launcher=local_parallel",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.storage=sqlite:///{db}",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert out.count("Joblib.Parallel(n_jobs=2") >= 3  # 2 + 2 trials, then retrain
    import optuna

    study = optuna.load_study(
        study_name="1d_trimodal_total1600_bins0/rbm", storage=f"sqlite:///{db}"
    )
    assert len(study.trials) == 4 and not (tmp_path / "sweep" / "optuna.db").exists()
    assert (tmp_path / "sweep" / "tuned" / "model" / "rbm_tuned.yaml").exists()
