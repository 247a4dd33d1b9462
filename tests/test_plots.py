"""Figures: the mode-collapse scatter (samples over the target's density)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import jax.random as jr  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genbench import plots  # noqa: E402
from genbench.targets import Ring2D  # noqa: E402


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


def _drawn(monkeypatch):
    """Keep the figures the plot functions save (drawn, not closed)."""
    figures = []

    def keep(fig, path, dpi=120):
        fig.canvas.draw()
        figures.append(fig)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _unlabelled(fig) -> list[str]:
    """Titles of the visible panels whose y axis has tick labels but no name
    (a colour bar names itself through the figure's label)."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or hasattr(ax, "_colorbar") or not ax.axison:
            continue
        ticks = [t for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]
        if ticks and not ax.get_ylabel():
            out.append(ax.get_title())
    return out


def test_every_panel_names_its_y_axis_in_words(monkeypatch):
    from genbench.models.gan import GAN
    from genbench.targets import Mixture1D

    figures = _drawn(monkeypatch)
    meta = dict(model="gan", target="t", budget=100, hidden=4, n_params=90)
    meta["seeds"] = [0, 1]
    history = [
        {"step": s, "seed": i, "kl": 0.5, "w1": 0.2, "loss_d": 1.3, "loss_g": 0.7}
        for s in (10, 20)
        for i in (0, 1)
    ]
    plots.plot_curves(
        "c.png", history, ["loss_d", "loss_g"], meta, labels=GAN.log_labels
    )
    curves = figures[-1]
    assert [ax.get_ylabel() for ax in curves.axes] == [
        "KL(P‖Q)",
        "Wasserstein-1",
        "discriminator loss",
        "generator loss",
    ]
    rng = np.random.default_rng(0)
    one = Mixture1D("1d", means=[-1.0, 1.0], stds=[0.3, 0.3], weights=[0.5, 0.5])
    two = Ring2D("2d_ring8", std=0.1)
    for target in (one, two):
        edges = target.hist_edges(12)
        p = target.bin_probs(edges)
        hists = rng.dirichlet(np.ones(p.size), (7, 2)).reshape(7, 2, *p.shape)
        kl = np.array([0.1, np.inf])
        plots.plot_timeline("t.png", target, edges, p, list(range(7)), hists, meta)
        plots.plot_target_vs_model("m.png", target, edges, p, hists[-1], kl, meta)
    x = np.asarray(two.sample(jr.key(0), 500))
    final = {"kl": np.array([0.1, 0.2]), "modes": np.array([8.0, 7.0])}
    plots.plot_scatter("s.png", two, np.stack([x, x]), final, meta)
    assert len(figures) == 6
    for fig in figures:
        assert _unlabelled(fig) == [], fig.axes[0].get_title()
    plt.close("all")


def test_the_2d_timeline_draws_the_target_in_every_panel(monkeypatch):
    from matplotlib.contour import ContourSet

    figures = _drawn(monkeypatch)
    target = Ring2D("2d_ring8", std=0.1)
    edges = target.hist_edges(20)
    p = target.bin_probs(edges)
    hists = np.full((3, 1, 20, 20), 1 / 400)  # a flat model: the target is the contours
    meta = dict(model="gan", target="t", budget=100, hidden=4, n_params=90, seeds=[0])
    plots.plot_timeline("t.png", target, edges, p, [1, 2, 3], hists, meta)
    (fig,) = figures
    assert "grey: target" in fig._suptitle.get_text()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 3
    for ax in panels:
        (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
        peak = (p / np.outer(np.diff(edges[0]), np.diff(edges[1]))).max()
        np.testing.assert_allclose(contours.levels, [0.1 * peak, 0.5 * peak])
    plt.close("all")
