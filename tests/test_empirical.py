"""The empirical target: the user's own samples from a file."""

from __future__ import annotations

import json

import jax.random as jr
import numpy as np
import pytest

from genbench.encoding import make_encoding
from genbench.metrics import Evaluator, kl_divergence
from genbench.targets import Empirical, TargetError

from .conftest import FAST, run_cli


def _rows(n=1000, dim=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal([0.5, -1.0][:dim], [1.0, 2.0][:dim], (n, dim))


def _as_set(a):
    """Rows as a set (as float32: samples are float32 on device)."""
    return {tuple(r) for r in np.asarray(a, np.float32).tolist()}


def test_split_is_fixed_disjoint_and_covers_the_file(tmp_path):
    data = _rows()
    np.save(tmp_path / "d.npy", data)
    t = Empirical("e", str(tmp_path / "d.npy"))
    u = Empirical("e", str(tmp_path / "d.npy"))
    assert len(t.heldout_) == 200 and len(t.train_) == 800  # holdout 0.2
    np.testing.assert_array_equal(t.heldout_, u.heldout_)  # the same split each run
    np.testing.assert_array_equal(
        np.sort(np.concatenate([t.train_, t.heldout_]), axis=0), np.sort(data, axis=0)
    )
    other = Empirical("e", str(tmp_path / "d.npy"), split_seed=1, holdout=0.3)
    assert len(other.heldout_) == 300 and not np.array_equal(
        other.train_[:5], t.train_[:5]
    )
    # standardised with the train part's moments
    np.testing.assert_allclose(t.mean(), t.train_.mean(0))
    np.testing.assert_allclose(t.std(), t.train_.std(0))
    assert t.dim == 2 and t.modes is None
    # about 10 held-out rows per cell: sqrt(200 / 10) -> 4, at least 5 per axis
    assert t.default_hist_bins == 5 and len(t.hist_edges()[0]) == 6
    big = tmp_path / "big.npy"
    np.save(big, _rows(40_000))
    assert Empirical("e", str(big)).default_hist_bins == 28  # sqrt(8000 / 10)


def test_samples_are_train_rows_and_p_is_the_heldout_histogram(tmp_path):
    np.save(tmp_path / "d.npy", _rows())
    t = Empirical("e", str(tmp_path / "d.npy"))
    x = np.asarray(t.sample(jr.key(0), 5000))
    assert _as_set(x) <= _as_set(t.train_) and len(_as_set(x)) > 700
    r = np.asarray(t.reference_sample(jr.key(0), 5000))
    assert _as_set(r) <= _as_set(t.heldout_)
    edges = [np.linspace(-3, 4, 8), np.array([-9.0, -2.0, 0.0, 1.0, 9.0])]
    counts, *_ = np.histogram2d(t.heldout_[:, 0], t.heldout_[:, 1], edges)
    np.testing.assert_allclose(t.bin_probs(edges), counts / 200)
    # bounds: the range of all rows, 5 % of it added on each side
    data = np.concatenate([t.train_, t.heldout_])
    lo, hi = data.min(0), data.max(0)
    np.testing.assert_allclose(
        np.array(t.bounds).T, [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)]
    )
    # binned mode: open edge cells hold every held-out row
    assert np.isclose(make_encoding(t, 12).bin_probs(t).sum(), 1.0)


def test_floor_is_train_against_heldout_and_reference_is_heldout(tmp_path):
    """The floor scores the train part (a perfect model of it) against P; the
    sample-based metrics compare with held-out rows, not train rows."""
    np.save(tmp_path / "d.npy", _rows(2000))
    t = Empirical("e", str(tmp_path / "d.npy"))
    ev = Evaluator(t, None, None)
    n = 4000
    ref = ev.reference(n)
    assert _as_set(ref["all"]) <= _as_set(t.heldout_)
    floor_x = ev.floor_samples(n)
    assert _as_set(floor_x) <= _as_set(t.train_)
    scores = ev.score(floor_x, ref)
    q, *_ = np.histogram2d(*np.asarray(floor_x).T, ev.edges)
    np.testing.assert_allclose(scores["kl"], kl_divergence(ev.p, q / n), rtol=1e-5)
    assert len(ev.edges[0]) == 7 and scores["kl"] > 0  # 400 held-out rows, 6 x 6


def test_csv_with_header_1d_and_2d_and_relative_paths(tmp_path, monkeypatch):
    data = _rows(600)
    np.savetxt(tmp_path / "two.csv", data, delimiter=",", header="x,y", comments="")
    np.savetxt(tmp_path / "one.csv", data[:, :1], delimiter=",")
    np.save(tmp_path / "two.npy", data)
    monkeypatch.chdir(tmp_path)  # relative to where the command runs
    a = Empirical("e", "two.csv")
    b = Empirical("e", "two.npy")
    np.testing.assert_allclose(a.train_, b.train_)
    one = Empirical("e", "one.csv", bounds=[-4, 5])
    assert one.dim == 1 and one.bounds == ((-4.0, 5.0),)
    assert one.default_hist_bins == 12  # 120 held-out rows / 10
    np.testing.assert_allclose(one.train_[:, 0], b.train_[:, 0])
    grid = np.linspace(-4, 5, 7)
    (e,) = one.hist_edges()
    dens = one.density(grid)
    assert np.isclose(np.sum(one.bin_probs([e])), 1.0) and np.all(dens >= 0)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("folder", "is a folder"),
        ("text.npy", "cannot be read as .npy"),
        ("bad.csv", "cannot be read as .csv"),
        ("data.txt", "unsupported format '.txt'"),
        ("nan.npy", "3 of 600 rows hold NaN or Inf"),
        ("three.npy", "3 columns; genbench takes 1 or 2"),
        ("cube.npy", "an array of shape [10, 10, 10]"),
        ("few.npy", "40 rows; at least target.min_samples=500"),
        ("const.npy", "column 2 is constant (every value 3)"),
        ("words.npy", "holds <U1 values, not numbers"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_the_problem(
    tmp_path, content, message
):
    rows = _rows(600)
    name = content or "missing.npy"
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif content == "text.npy":
        path.write_text("not an array")
    elif content == "bad.csv":
        path.write_text("1.0,2.0\n3.0,oops\n")
    elif content == "data.txt":
        path.write_text("1 2\n")
    elif content == "nan.npy":
        rows[[3, 70, 500], 1] = [np.nan, np.inf, -np.inf]
        np.save(path, rows)
    elif content == "three.npy":
        np.save(path, np.hstack([rows, rows[:, :1]]))
    elif content == "cube.npy":
        np.save(path, np.zeros((10, 10, 10)))
    elif content == "few.npy":
        np.save(path, rows[:40])
    elif content == "const.npy":
        rows[:, 1] = 3.0
        np.save(path, rows)
    elif content == "words.npy":
        np.save(path, np.array(["a", "b"] * 300))
    with pytest.raises(TargetError) as err:
        Empirical("e", str(path))
    text = str(err.value)
    assert "\n" not in text and f"target.path='{path}'" in text and message in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"holdout": 1.0}, "target.holdout=1.0"),
        ({"holdout": 0.0}, "must be in (0, 1)"),
        ({"margin": -0.1}, "target.margin=-0.1"),
        ({"min_samples": 2}, "target.min_samples=2"),
        ({"holdout": 0.0001}, "leaves an empty part"),
    ],
)
def test_bad_split_settings_are_refused(tmp_path, kwargs, message):
    np.save(tmp_path / "d.npy", _rows(600))
    with pytest.raises(
        TargetError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        Empirical("e", str(tmp_path / "d.npy"), **kwargs)


def test_cli_runs_a_relative_file_and_refuses_a_bad_one(tmp_path):
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "d.npy", _rows(1000))
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
    rows = _rows(1000)
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
