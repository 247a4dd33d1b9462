"""Figures: the mode-collapse scatter (samples over the target's density)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import jax.random as jr  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genbench import plots  # noqa: E402
from genbench.targets import Ring2D  # noqa: E402

from .conftest import FAST, run_cli  # noqa: E402


def test_scatter_panel_draws_the_samples_over_the_exact_density():
    target = Ring2D("2d_ring8", std=0.05)
    x = np.array(target.sample(jr.key(0), 6000))
    x[3] = np.nan  # a sample with no value is not drawn
    ex, ey, dens = plots.density_image(target, 60)
    area = np.outer(np.diff(ex), np.diff(ey))
    # the density integrates to the target's mass in range (here all of it)
    assert abs(np.sum(dens * area) - 1) < 1e-6
    # an independent reference: the cell of the first mode holds its density
    i = np.searchsorted(ex, 1.0, "right") - 1
    j = np.searchsorted(ey, 0.0, "right") - 1
    assert dens[i, j] > 0.5 * dens.max()
    fig, ax = plt.subplots()
    plots.scatter_panel(ax, target, x, (ex, ey, dens))
    points, rings = ax.collections[1:]
    finite = x[np.all(np.isfinite(x), axis=1)]
    np.testing.assert_array_equal(points.get_offsets(), finite[: plots.SCATTER_POINTS])
    np.testing.assert_allclose(rings.get_offsets(), target.modes)
    plt.close(fig)


def test_a_2d_run_writes_the_scatter_figure(tmp_path):
    proc = run_cli(
        "model=gan",
        "target=2d_ring8",
        *FAST,
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "run" / "plots" / "scatter.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
