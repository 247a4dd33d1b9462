"""The state of one CLI process across its jobs: the exit code it gives."""

from __future__ import annotations

from genbench.session import Session


def test_exit_code_counts_failed_jobs_and_says_which(capsys):
    assert Session().exit_code() == 0
    single = Session(failed=["train.steps=0 is not allowed"])
    assert single.exit_code() == 1
    assert capsys.readouterr().err == ""  # a single run said why already
    sweep = Session(failed=["a=1: boom"], multirun=True)
    assert sweep.exit_code() == 1
    err = capsys.readouterr().err
    assert "1 job(s) failed:" in err and "  a=1: boom" in err


def test_the_sweep_summary_decides_and_diverged_trials_are_results(capsys):
    # The summary callback read the job folders (other processes' jobs too).
    s = Session(failed=[], multirun=True, sweep_failures=["3_x=1: error"])
    assert s.exit_code() == 1
    assert "  3_x=1: error" in capsys.readouterr().err
    trial = Session(failed=["x=1: /s/0_x=1"], diverged_trials={"/s/0_x=1"})
    assert trial.exit_code() == 0


def test_an_interruption_exits_130_and_skipped_jobs_are_counted(capsys):
    s = Session(failed=["interrupted at step 5: out"], multirun=True)
    s.skipped.append("out/0")
    assert s.exit_code() == 130
    err = capsys.readouterr().err
    assert "1 job(s) skipped" in err and "sweep interrupted" in err


def test_the_resume_hint_names_the_sweep_folder(capsys):
    s = Session(failed=["interrupted at step 5: out"], multirun=True)
    s.sweep_dir = "multirun/2026-12-01/10-00-00"
    assert s.exit_code() == 130
    err = capsys.readouterr().err
    assert "with hydra.sweep.dir=multirun/2026-12-01/10-00-00 to finish it" in err
    failed = Session(failed=["a=1: boom"], multirun=True, sweep_dir="sweeps/x")
    assert failed.exit_code() == 1
    assert "with hydra.sweep.dir=sweeps/x: complete jobs" in capsys.readouterr().err
