"""genbench/report.py: the sweep summary from job folders written without training
(grouping, markdown and LaTeX tables, the steps figure)."""

from __future__ import annotations

import json

import pytest

from genbench import plots, report


def test_markdown_marks_best_and_unresolved_differences():
    def rows(model, values):
        return [
            {
                "model": model,
                "target": "t",
                "bins": 0,
                "budget": 100,
                "kl": v,
                "kl_floor": 0.001,
                "status": "ok",
                "job": model,
            }
            for v in values
        ]

    table = report.to_markdown(
        rows("a", [0.10, 0.11, 0.12])
        + rows("b", [0.11, 0.13, 0.12])
        + rows("c", [0.50, 0.51, 0.52])
    )
    line = next(x for x in table.splitlines() if x.startswith("| 100 |"))
    a, b, c = line.split(" | ")[1:4]
    assert a.startswith("**0.1100") and b.startswith("≈ 0.1200")
    assert c.startswith("0.5100") and line.endswith("| 0.0010 |")


def test_latex_table_escapes_labels_and_bolds_the_row_minimum():
    from scipy import stats

    def rows(model, values, budget=100):
        return [
            {
                "model": model,
                "target": "t_1%&",
                "bins": 0,
                "budget": budget,
                "kl": v,
                "kl_floor": 0.001,
                "status": "ok",
                "job": f"{model}{budget}",
            }
            for v in values
        ]

    table = report.to_latex(
        rows("gan_x", [0.30, 0.32, 0.34])
        + rows("vae_original", [0.10, 0.11, 0.12])
        + rows("rbm", [0.50, 0.51, 0.52])
        + rows("gan_x", [0.05, 0.06, 0.07], budget=400)
        + rows("rbm", [0.08], budget=400)  # one seed: no interval
    )
    lines = table.splitlines()
    assert lines[0].startswith("% genbench summary: KL(P||Q)")
    rules = [x for x in lines if x in ("\\toprule", "\\midrule", "\\bottomrule")]
    assert rules == ["\\toprule", "\\midrule", "\\bottomrule"]
    assert lines[1] == "\\begin{tabular}{lrrrr}" and lines[-1] == "\\end{tabular}"
    header = lines[3]
    assert header == "budget & gan\\_x & rbm & vae\\_original & floor \\\\"
    assert lines[5] == "\\multicolumn{5}{l}{\\emph{t\\_1\\%\\&, continuous}} \\\\"
    # no special character is left bare: every `&` separates a cell
    for line in lines[1:]:
        bare = line.replace("\\_", "").replace("\\%", "").replace("\\&", "")
        assert "_" not in bare and "%" not in bare
        if line.endswith("\\\\") and "multicolumn" not in line:
            assert bare.count("&") == 4
    # the best (lowest mean) of each row in bold, with its 95 % t-interval
    row100 = next(x for x in lines if x.startswith("100 &")).split(" & ")
    half = stats.t.ppf(0.975, 2) * 0.01 / 3**0.5
    assert row100[3] == f"\\textbf{{0.1100 [{0.11 - half:.4f}, {0.11 + half:.4f}]}}"
    assert row100[1].startswith("0.3200 [") and row100[2].startswith("0.5100 [")
    assert row100[4] == "0.0010 \\\\"
    row400 = next(x for x in lines if x.startswith("400 &")).split(" & ")
    assert row400[1].startswith("\\textbf{0.0600 [") and row400[2] == "0.0800"
    assert row400[3] == "--" and sum("textbf" in c for c in row400) == 1


def test_report_prints_the_latex_table(tmp_path, capsys):
    _job(tmp_path / "s" / "0", "model=gan", kl=(0.3, 0.4))
    _job(tmp_path / "s" / "1", "model=vae", kl=(0.1, 0.2))
    assert report.main([str(tmp_path / "s"), "--format", "latex"]) == 0
    table = capsys.readouterr().out
    assert "budget & gan & vae & floor" in table
    assert "\\emph{1d\\_trimodal, continuous}" in table
    line = next(x for x in table.splitlines() if x.startswith("1600 &"))
    assert line.split(" & ")[2].startswith("\\textbf{0.1500 [")


def _job(folder, *overrides, kl=(0.1, 0.2), status="ok", age=0, **extra):
    """A job folder as genbench writes it (metrics.json from a composed config,
    a little samples.npz), without training: for the report's grouping."""
    import os

    import numpy as np

    from genbench.config import resolved
    from genbench.identity import identity_hash

    from .conftest import compose_cfg

    cfg = compose_cfg(*overrides)
    config = resolved(cfg)  # as run_record stores it (typed by the classes)
    t = cfg.train
    seeds = list(range(t.seed, t.seed + len(kl)))
    choices = dict(model="gan", target="1d_trimodal")
    choices.update(o.split("=") for o in overrides if o.split("=")[0] in choices)
    record = {
        "status": status,
        "model": cfg.model.name,
        "target": cfg.target.name,
        "bins": cfg.bins.n,
        "budget": {"params": cfg.budget.params, "scope": cfg.budget.scope},
        "hidden": 10,
        "n_params": 100,
        "steps": t.steps,
        "steps_done": extra.get("steps_done", t.steps),
        "seeds": seeds,
        "seed_status": [
            {"seed": s, "status": "ok" if v is not None else "diverged"}
            | ({} if v is not None else {"step": 150})
            for s, v in zip(seeds, kl, strict=True)
        ],
        "metrics": {"kl": {"per_seed": list(kl), "floor": 0.001}},
        "timing": {"wall_seconds": 1.0, **extra.get("timing", {})},
        "flops_per_step": extra.get("flops_per_step"),
        "identity": identity_hash(config),
        "choices": choices,
        "config": config,
    }
    if extra.get("old"):  # written before genbench stored identity and choices
        del record["identity"], record["choices"]
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(record))
    x = np.random.default_rng(0).normal(size=(len(kl), 200, 1))
    np.savez(folder / "samples.npz", samples=x, seeds=np.asarray(seeds))
    stamp = 1_700_000_000 - age
    os.utime(folder / "metrics.json", (stamp, stamp))


def test_report_never_pools_two_configurations_nor_a_seed_twice(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    base = ("budget.params=400", "train.steps=300", "train.seeds=2")
    _job(a / "0", "model=vae", "model.lr=0.001", *base, kl=(0.10, 0.12))
    _job(a / "1", "model=vae", "model.lr=0.003", *base, kl=(0.30, 0.32))
    _job(a / "2", "model=gan", *base, kl=(0.5, 0.6))
    _job(a / "3", "model=gan_original", *base, kl=(0.7, 0.8))
    _job(b / "0", "model=vae", "model.lr=0.001", *base[:1], "train.steps=600")
    # the same configuration and seeds as a/0, older: counted once, from a/0
    _job(b / "1", "model=vae", "model.lr=0.001", *base, kl=(0.9, 0.9), age=60)
    # further seeds of a/0's configuration (from an older genbench): pooled
    _job(b / "2", "model=vae", "model.lr=0.001", *base, "train.seed=2",
         kl=(0.14, 0.16), old=True)  # fmt: skip
    _job(b / "3", "model=vae", "model.lr=0.003", *base, "train.seed=4",
         status="interrupted", steps_done=100, kl=(0.01, 0.01))  # fmt: skip
    _job(b / "4", "model=gan", *base, "train.seed=6", status="partial",
         kl=(0.55, None))  # fmt: skip
    _job(b / "5", "model=vae", "model.lr=0.001", *base, "target.bounds=[-4,4]")

    assert report.main([str(a), str(b)]) == 0
    md = capsys.readouterr().out
    lines = md.splitlines()
    main = "## 1d_trimodal, continuous, bounds=[-3.5,3.5]"
    assert main in lines and "## 1d_trimodal, continuous, bounds=[-4.0,4.0]" in lines
    at = lines.index(main)
    head = (
        "| budget, steps | gan | gan_original | vae lr=0.001 | vae lr=0.003 | floor |"
    )
    assert lines[at + 2] == head
    cells = lines[at + 4].split(" | ")
    assert cells[0] == "| 400, 300 steps"
    assert "0.5500" in cells[1] and "(3)" in cells[1]  # b/4's ok seed only
    assert "0.7500" in cells[2] and "(2)" in cells[2]
    assert "0.1300" in cells[3] and "(4)" in cells[3]  # a/0 + b/2, not b/1
    assert "0.3100" in cells[4] and "(2)" in cells[4]  # not b/3
    assert lines[at + 5].startswith("| 400, 600 steps | — | — | ") and "(2)" in md
    not_ok = md[md.index("## Not ok") : md.index("## Repeats")]
    assert f"| {b / '3'} | interrupted | 100 of 300 | 4, 5 |" in not_ok
    assert f"| {b / '4'} | partial | 300 of 300 | 7 diverged at step 150 |" in not_ok
    assert f"| {b / '1'} | seeds 0, 1 | {a / '0'} |" in md
    rows = report.collect([a, b])
    assert report.failures(rows) == ["3: interrupted"]
    assert sum(r["counted"] for r in rows) == 2 * 9 + 1 - 2 - 2  # b/1, b/3 out
    assert {r["config.model.lr"] for r in rows} == {"0.001", "0.003", "0.0002"}
    # the figures draw every column of the table
    lines_drawn = report.plot_budget(rows, tmp_path / "budget.png")
    assert lines_drawn[main[3:]] == [
        "gan, 300 steps",
        "gan_original, 300 steps",
        "vae lr=0.001, 300 steps",
        "vae lr=0.001, 600 steps",
        "vae lr=0.003, 300 steps",
    ]
    figures = report.plot_side_by_side(rows, tmp_path)
    assert len(figures) == 2 and all(p.exists() for p in figures)
    assert max(figures.values(), key=len) == head.split(" | ")[1:-1]
    assert report.main([str(a), str(b), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "summary.md").read_text() == md


def _steps_study(root, points):
    """Fake jobs of a budget-curve study, one per (model, steps, per-seed KL)."""
    for i, (model, steps, kl) in enumerate(points):
        _job(
            root / str(i),
            f"model={model}",
            f"train.steps={steps}",
            "train.seeds=2",
            kl=kl,
            timing={"train_seconds": steps / 100},
            flops_per_step=1e6,
        )
    return report.collect([root])


def test_steps_figure_draws_each_family_against_steps_seconds_and_flops(tmp_path):
    # the budget-curve study: families x step counts, one budget
    rows = _steps_study(
        tmp_path / "s",
        [
            ("gan", 300, (0.5, 0.7)),
            ("gan", 600, (0.3, 0.4)),
            ("gan", 1200, (0.2, 0.25)),
            ("vae", 300, (0.2, 0.21)),
            ("vae", 1200, (0.1, 0.12)),
        ],
    )
    drawn = report.plot_steps(rows, tmp_path / "steps.png")
    assert drawn == {"1d_trimodal, continuous": ["gan", "vae"]}
    assert (tmp_path / "steps.png").read_bytes()[:4] == b"\x89PNG"
    md = report.to_markdown(rows)
    assert "| budget, steps | gan | vae | floor |" in md
    assert "| 1600, 600 steps | **0.3500" in md and "| — |" in md
    # a sweep at one budget gets the steps figure, not a budget figure of points
    report.write_summary(tmp_path / "out", rows)
    assert (tmp_path / "out" / "summary_steps.png").exists()
    assert not (tmp_path / "out" / "summary_budget.png").exists()
    # one step count: no steps figure
    one = [r for r in rows if r.get("steps") == 300]
    assert report.plot_steps(one, tmp_path / "none.png") == {}


def test_steps_figure_keeps_a_band_reaching_zero_on_its_log_axis(tmp_path, monkeypatch):
    # two seeds far apart: the t-interval's lower end is cut at 0, which a log
    # axis cannot show; the band must not drag the axis down to the clip value
    rows = _steps_study(
        tmp_path / "s", [("gan", 300, (0.05, 0.7)), ("gan", 1200, (0.02, 0.3))]
    )
    assert report._interval(report._stats([0.05, 0.7]), "kl")[0] == 0
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    report.plot_steps(rows, tmp_path / "steps.png")
    (fig,) = figures
    for ax in fig.axes:
        (band,) = ax.collections  # the one line's 95 % band
        lowest = min(p.vertices[:, 1].min() for p in band.get_paths())
        assert lowest == pytest.approx(0.16 / 10)  # a decade below the lowest mean
        assert ax.get_ylim()[0] > 1e-5  # the axis ends near the noise floor
