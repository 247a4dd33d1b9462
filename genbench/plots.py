"""Matplotlib figures of one run (imported lazily: plotting costs start-up time)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "plot_target_vs_model",
    "plot_curves",
    "plot_timeline",
    "plot_latent_manifold",
    "plot_patterns",
    "plot_scatter",
    "density_image",
    "plot_run",
]


def _save(fig, path: Path, dpi: int = 120) -> None:
    import io

    from .artifacts import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _title(meta: dict) -> str:
    return (
        f"{meta['model'].upper()} on {meta['target']}  |  budget {meta['budget']} "
        f"→ H={meta['hidden']} ({meta['n_params']} params)"
    )


def plot_target_vs_model(
    path: Path,
    target,
    edges: list[np.ndarray],
    p: np.ndarray,
    hists: np.ndarray,
    kl: np.ndarray,
    meta: dict,
    binned: bool = False,
) -> None:
    """1D: exact target density vs each seed's histogram. 2D: heat maps side by side.

    `hists` are the model's cell shares per seed (seeds, *cells), normalised by all
    samples, from the final evaluation.
    """
    if target.dim == 1 and binned:
        _plot_bars(path, edges[0], p, hists, kl, meta)
    elif target.dim == 1:
        _plot_1d(path, target, edges[0], p, hists, kl, meta)
    else:
        _plot_2d(path, target, edges, p, hists, kl, meta)


def _plot_1d(path, target, e, p, hists, kl, meta):
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    width = np.diff(e)
    centres = (e[:-1] + e[1:]) / 2
    ax.bar(
        centres,
        p / width,
        width=width,
        color="0.85",
        edgecolor="0.6",
        linewidth=0.5,
        label="target (exact cell mass)",
    )
    if not target.is_discrete:
        grid = np.linspace(e[0], e[-1], 600)
        ax.plot(grid, target.density(grid), color="k", lw=1.5, label="target density")
    for i, (q, k) in enumerate(zip(hists, kl, strict=True)):
        label = (
            f"seed {meta['seeds'][i]}: KL {k:.4f}"
            if np.isfinite(k)
            else (f"seed {meta['seeds'][i]}: diverged")
        )
        ax.stairs(q / width, e, color=COLORS[i % len(COLORS)], lw=1.6, label=label)
    ax.set_xlim(e[0], e[-1])
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # head room for the legend
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(_title(meta), fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper center", ncol=2)
    _save(fig, path)


def _plot_bars(path, e, p, hists, kl, meta):
    """Binned 1D: target vs model probability of every bin, bars side by side."""
    n = len(p)
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * n + 3), 4.5), layout="constrained")
    x = np.arange(n)
    k = len(hists)
    width = 0.8 / (k + 1)
    ax.bar(x - 0.4 + width / 2, p, width, color="0.6", label="target (exact)")
    for i, (q, score) in enumerate(zip(hists, kl, strict=True)):
        seed = meta["seeds"][i]
        label = (
            f"seed {seed}: KL {score:.4f}"
            if np.isfinite(score)
            else (f"seed {seed}: diverged")
        )
        ax.bar(
            x - 0.4 + width * (i + 1.5),
            q,
            width,
            color=COLORS[i % len(COLORS)],
            label=label,
        )
    centres = (e[:-1] + e[1:]) / 2
    step = max(1, n // 12)
    ax.set_xticks(x[::step], [f"{c:.2g}" for c in centres[::step]])
    ax.set_xlabel("bin centre")
    ax.set_ylabel("probability")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.set_title(_title(meta) + f"  |  {n} bins", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper center", ncol=2)
    _save(fig, path)


def _plot_2d(path, target, edges, p, hists, kl, meta):
    n = min(len(hists), 3)
    fig, axes = plt.subplots(
        1, n + 1, figsize=(3.4 * (n + 1), 3.6), layout="constrained"
    )
    ex, ey = edges
    area = np.outer(np.diff(ex), np.diff(ey))
    vmax = (p / area).max()
    panels = [("target (exact)", p)] + [
        (
            f"seed {meta['seeds'][i]}: KL {kl[i]:.3f}"
            if np.isfinite(kl[i])
            else f"seed {meta['seeds'][i]}: diverged",
            hists[i],
        )
        for i in range(n)
    ]
    for ax, (title, cells) in zip(axes, panels, strict=True):
        im = ax.pcolormesh(ex, ey, (cells / area).T, cmap="viridis", vmin=0, vmax=vmax)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    fig.colorbar(im, ax=axes, shrink=0.8, label="density")
    fig.suptitle(_title(meta), fontsize=10)
    _save(fig, path)


def _words(key: str, labels: dict[str, str]) -> str:
    """A metric's or a logged loss's name in words (`metrics.METRIC_LABELS`,
    the family's `log_labels`); else the key with spaces for underscores."""
    from .metrics import METRIC_LABELS

    return {**METRIC_LABELS, **labels}.get(key, key.replace("_", " "))


def plot_curves(
    path: Path,
    history: list[dict],
    loss_keys: list[str],
    meta: dict,
    metrics: tuple[str, ...] = ("kl", "w1"),
    labels: dict[str, str] | None = None,
) -> None:
    """KL (log scale), the other `metrics` and the training losses over steps,
    one line per seed; each panel's y axis named in words (`labels`: the
    family's `log_labels`)."""
    keys = list(metrics) + loss_keys
    fig, axes = plt.subplots(
        1, len(keys), figsize=(3.6 * len(keys), 3.4), layout="constrained"
    )
    seeds = sorted({row["seed"] for row in history})
    for ax, key in zip(axes, keys, strict=True):
        for i, seed in enumerate(seeds):
            rows = [r for r in history if r["seed"] == seed]
            ax.plot(
                [r["step"] for r in rows],
                [r[key] for r in rows],
                marker=".",
                color=COLORS[i % len(COLORS)],
                lw=1.2,
                label=f"seed {seed}",
            )
        if key in ("kl", "w1"):
            ax.set_yscale("log")
        ax.set_ylabel(_words(key, labels or {}))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(_title(meta), fontsize=10)
    _save(fig, path, dpi=110)


def plot_timeline(
    path: Path,
    target,
    edges: list[np.ndarray],
    p: np.ndarray,
    steps: list[int],
    hists: np.ndarray,
    meta: dict,
) -> None:
    """The learned distribution of the first seed at every snapshot, a panel each.

    `hists` is `(snapshots, seeds, *cells)`; 1D panels overlay the target's cell
    mass (grey), 2D panels are heat maps on the scoring grid under grey contours
    of the target's density (at 10 % and 50 % of its peak).
    """
    n = len(steps)
    cols = min(5, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        squeeze=False,
        sharex=True,
        sharey=True,
        figsize=(2.6 * cols, 2.0 * rows + 0.6),
        layout="constrained",
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if target.dim == 1:
        e = edges[0]
        width = np.diff(e)
        top = max((p / width).max(), (hists[:, 0] / width).max()) * 1.1
        for ax, step, h in zip(axes.flat, steps, hists[:, 0], strict=False):
            ax.stairs(p / width, e, color="0.6", fill=True, alpha=0.6)
            ax.stairs(h / width, e, color=COLORS[0], lw=1.2)
            ax.set_title(f"step {step}", fontsize=8)
            ax.set_ylim(0, top)
            ax.tick_params(labelsize=7)
    else:
        ex, ey = edges
        area = np.outer(np.diff(ex), np.diff(ey))
        # the colours span the model's densities (the target is the contours:
        # a peaked target's scale would leave a spread-out model black)
        vmax = np.nanmax(hists[:, 0] / area)
        peak = (p / area).max()
        cx, cy = (ex[:-1] + ex[1:]) / 2, (ey[:-1] + ey[1:]) / 2
        for ax, step, h in zip(axes.flat, steps, hists[:, 0], strict=False):
            ax.pcolormesh(ex, ey, (h / area).T, cmap="viridis", vmin=0, vmax=vmax)
            ax.contour(
                cx,
                cy,
                (p / area).T,
                levels=[0.1 * peak, 0.5 * peak],
                colors="0.8",
                linewidths=0.7,
            )
            ax.set_title(f"step {step}", fontsize=8)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
    # shared axes: the first column and the last row carry the labels
    for ax in axes[:, 0]:
        ax.set_ylabel("density" if target.dim == 1 else "x₂", fontsize=8)
    for ax in axes.flat[max(0, n - cols) : n]:
        ax.set_xlabel("x" if target.dim == 1 else "x₁", fontsize=8)
    fig.suptitle(
        _title(meta) + f"  |  seed {meta['seeds'][0]} over training (grey: target)",
        fontsize=10,
    )
    _save(fig, path, dpi=100)


def plot_latent_manifold(
    path: Path,
    meta: dict,
    decoder,
    encoding,
    kind: str = "values",
    extent: float = 3.0,
    grid: int = 41,
) -> None:
    """A decoder's output over a `grid x grid` grid of its 2D latent z in
    [-extent, extent]^2 (first seed), decoded to data space by `encoding` as
    outputs of `kind` (`AbstractFamily.output_kind`); one heat map per data axis."""
    import jax.numpy as jnp
    import jax.random as jr

    ticks = np.linspace(-extent, extent, grid)
    z = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1)
    y = decoder(jnp.asarray(z.reshape(-1, 2), jnp.float32))
    x = np.asarray(encoding.decode(y, jr.key(0), kind)).reshape(grid, grid, -1)
    dim = x.shape[-1]
    fig, axes = plt.subplots(
        1, dim, squeeze=False, figsize=(max(6.5, 4.2 * dim), 4.2), layout="constrained"
    )
    for axis in range(dim):
        ax = axes[0][axis]
        im = ax.imshow(
            x[..., axis].T,
            origin="lower",
            cmap="coolwarm",
            extent=(-extent, extent, -extent, extent),
        )
        ax.set_xlabel("z₁")
        ax.set_ylabel("z₂")
        ax.set_title(f"decoded x{'₁₂'[axis] if dim > 1 else ''}", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(
        _title(meta)
        + f"\nlatent manifold: decoder output over z, seed {meta['seeds'][0]}",
        fontsize=9,
    )
    _save(fig, path)


VALID, NOT_VALID = "#1a9850", "#d73027"  # frames of valid and other patterns


def _pattern_counts(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of 0/1 `samples` (n, bits), most frequent first, and their
    counts (rows that are not finite left out)."""
    x = samples[np.all(np.isfinite(samples), axis=1)] > 0.5
    if len(x) == 0:
        return np.zeros((0, samples.shape[1]), bool), np.zeros(0, int)
    rows, counts = np.unique(x, axis=0, return_counts=True)
    order = np.lexsort((np.arange(len(counts)), -counts))
    return rows[order], counts[order]


def _draw_pattern(ax, bits, shape, colour, label):
    ax.imshow(
        np.asarray(bits, float).reshape(shape),
        cmap="Greys",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_edgecolor(colour)
        side.set_linewidth(2.5)
    ax.set_title(label, fontsize=7, pad=2, color=colour if colour == NOT_VALID else "k")


def plot_patterns(
    path: Path,
    target,
    samples: np.ndarray,
    final: dict[str, np.ndarray],
    meta: dict,
    top: int = 16,
) -> None:
    """A grid of the `top` most frequent generated patterns of each seed (up to 4
    seeds, a row each, share of samples above each), framed green when valid and
    red when not; the first row shows the target's patterns (the first `top` of
    them). `samples` is `(seeds, n, bits)`, `final` the metrics per seed."""
    valid = set(target.pattern_index().tolist())
    weights = 2 ** np.arange(target.dim - 1, -1, -1)
    seeds = min(len(samples), 4)
    k = target.n_patterns
    cols = top
    shape = target.pattern_shape
    side = 0.8 / max(shape)  # inches per pixel: a pattern's longer side 0.8 in
    row_h = max(side * shape[0] + 0.35, 0.75)  # room for the labels on the left
    fig, axes = plt.subplots(
        seeds + 1,
        cols,
        squeeze=False,
        figsize=(side * shape[1] * 1.15 * cols + 1.4, row_h * (seeds + 1) + 0.6),
        layout="constrained",
    )
    shown = target.patterns_[:cols]
    for j, ax in enumerate(axes[0]):
        if j < len(shown):
            _draw_pattern(ax, shown[j], shape, VALID, f"{1 / k:.1%}")
        else:
            ax.set_visible(False)
    more = f", first {cols} shown" if k > cols else ""
    for i in range(seeds):
        rows, counts = _pattern_counts(samples[i])
        n = samples.shape[1]
        for j, ax in enumerate(axes[i + 1]):
            if j >= len(rows):
                ax.set_visible(False)
                continue
            ok = int(rows[j].astype(int) @ weights) in valid
            colour = VALID if ok else NOT_VALID
            share = counts[j] / n
            text = f"{share:.1%}" if share >= 0.01 else f"{share:.2%}"
            _draw_pattern(ax, rows[j], shape, colour, text)
        prec, cov, kl = (final[key][i] for key in ("precision", "coverage", "kl"))
        label = f"seed {meta['seeds'][i]}\n" + (
            f"KL {kl:.3f}\nprecision {prec:.3f}\ncoverage {cov:.3f}"
            if np.isfinite(kl)
            else "diverged"
        )
        axes[i + 1][0].set_ylabel(
            label, fontsize=7, rotation=0, ha="right", va="center", labelpad=6
        )
    axes[0][0].set_ylabel(
        f"target\n{k} valid\npatterns",
        fontsize=7,
        rotation=0,
        ha="right",
        va="center",
        labelpad=6,
    )
    fig.suptitle(
        _title(meta)
        + f"\ntarget: {k} valid patterns, {1 / k:.2%} each{more}; below: the most "
        + "frequent patterns of each seed (share of its samples), frame green if "
        + "valid, red if not",
        fontsize=8,
    )
    _save(fig, path, dpi=130)


SCATTER_POINTS = 4000  # samples drawn per panel of the scatter figure
DENSITY_CELLS = 160  # cells per axis of the target's density behind it


def density_image(target, cells: int = DENSITY_CELLS):
    """The target's density on a `cells x cells` grid over its bounds: each
    cell's exact probability (`bin_probs`) over its area. Returns `(edges_x,
    edges_y, density (cells, cells))`."""
    ex, ey = target.hist_edges(cells)
    dens = target.bin_probs([ex, ey]) / np.outer(np.diff(ex), np.diff(ey))
    return ex, ey, dens


def _density_panel(ax, ex, ey, dens, cmap="Blues"):
    from matplotlib.colors import PowerNorm

    ax.pcolormesh(
        ex,
        ey,
        dens.T,
        cmap=cmap,
        # the densest cells mid-blue, so that the points stay visible on them
        norm=PowerNorm(0.4, vmin=0, vmax=3.5 * dens.max()),
        rasterized=True,
    )
    ax.set_xlim(ex[0], ex[-1])
    ax.set_ylim(ey[0], ey[-1])
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)


def scatter_panel(ax, target, x: np.ndarray, density=None, modes: bool = True):
    """Samples `x` (n, 2) as points over the target's density (`density_image`);
    a mixture's mode centres as rings. Points beyond the range are not drawn."""
    ex, ey, dens = density if density is not None else density_image(target)
    _density_panel(ax, ex, ey, dens)
    x = x[np.all(np.isfinite(x), axis=1)][:SCATTER_POINTS]
    ax.scatter(
        x[:, 0],
        x[:, 1],
        s=2,
        color="#d7301f",
        alpha=0.55,
        linewidths=0,
        rasterized=True,
    )
    if modes and target.modes is not None:
        _circle_modes(ax, target.modes)


def _circle_modes(ax, modes: np.ndarray) -> None:
    """Open black circles at a mixture's `(modes, 2)` centres."""
    ax.scatter(
        modes[:, 0],
        modes[:, 1],
        s=40,
        facecolors="none",
        edgecolors="k",
        linewidths=0.6,
    )


def plot_scatter(
    path: Path,
    target,
    samples: np.ndarray,
    final: dict[str, np.ndarray],
    meta: dict,
    binned: bool = False,
) -> None:
    """The mode-collapse figure: each seed's samples (up to 3 seeds, the first
    `SCATTER_POINTS` of each) as points over the target's exact density (blue,
    square-root-like colour scale), a panel per seed beside the target alone;
    a mixture's modes are circled and counted. `samples` is `(seeds, n, 2)`."""
    n = min(len(samples), 3)
    density = density_image(target)
    fig, axes = plt.subplots(
        1, n + 1, figsize=(3.3 * (n + 1), 4.1), layout="constrained", squeeze=False
    )
    axes = axes[0]
    _density_panel(axes[0], *density)
    if target.modes is not None:
        _circle_modes(axes[0], target.modes)
    axes[0].set_title("target density (exact)", fontsize=9)
    total = None if target.modes is None else len(target.modes)
    for i in range(n):
        ax = axes[i + 1]
        scatter_panel(ax, target, samples[i], density)
        kl = final["kl"][i]
        if not np.isfinite(kl):
            title = f"seed {meta['seeds'][i]}: diverged"
        else:
            title = f"seed {meta['seeds'][i]}: KL {kl:.3f}"
            if total and np.isfinite(final["modes"][i]):
                title += f", modes {final['modes'][i]:.0f}/{total}"
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.set_xlabel("x₁", fontsize=8)
        ax.set_ylabel("x₂", fontsize=8)
    shown = min(samples.shape[1], SCATTER_POINTS)
    how = "cell centres (binned)" if binned else "samples"
    fig.suptitle(
        _title(meta)
        + f"\nfirst {shown} {how} per seed (red) over the target's density (blue)",
        fontsize=9,
    )
    _save(fig, path, dpi=130)


def plot_run(
    folder: Path, spec, result, budget: int, which: str = "all"
) -> list[np.ndarray]:
    """The figures of a run into `folder` (`plots/`): target vs model, the
    timeline, 2D targets' scatter, the curves and the family's own
    (`AbstractFamily.figures`); bit-vector targets: the most frequent patterns
    and the curves of KL, precision and coverage. `which="final"` draws only
    the figures of the final samples (target vs model, scatter, patterns; see
    `artifacts.PLOTS`). Returns the in-range cell edges per axis the run is
    scored on (bit vectors: None, no grid)."""
    import jax

    s = spec.settings
    meta = {
        "model": spec.family.name,
        "target": spec.target.name,
        "budget": budget,
        "hidden": spec.hidden,
        "n_params": spec.n_params,
        "seeds": list(range(s.seed, s.seed + s.seeds)),
    }
    ev = spec.target.evaluator(spec.encoding, s.hist_bins)
    if spec.encoding.bits:
        if result.samples is not None:
            plot_patterns(
                folder / "patterns.png", spec.target, result.samples, result.final, meta
            )
        if which == "final":
            return ev.edges
        metrics = ("kl", "precision", "coverage")
        plot_curves(
            folder / "curves.png",
            result.history,
            result.log_keys,
            meta,
            metrics,
            labels=spec.family.log_labels,
        )
        return ev.edges
    plot_target_vs_model(
        folder / "target_vs_model.png",
        spec.target,
        ev.edges,
        ev.p,
        result.final_hists,
        result.final["kl"],
        meta,
        binned=spec.encoding.binned,
    )
    if spec.target.dim == 2 and result.samples is not None:
        plot_scatter(
            folder / "scatter.png",
            spec.target,
            result.samples,
            result.final,
            meta,
            binned=spec.encoding.binned,
        )
    if which == "final":
        return ev.edges
    plot_timeline(
        folder / "timeline.png",
        spec.target,
        ev.edges,
        ev.p,
        result.snapshot_steps,
        result.snapshot_hists,
        meta,
    )
    nets = jax.tree_util.tree_map(lambda x: x[0], spec.family.params(result.states))
    for name, draw in spec.family.figures(nets, spec.encoding).items():
        draw(folder / name, meta)
    labels = spec.family.log_labels
    plot_curves(
        folder / "curves.png", result.history, result.log_keys, meta, labels=labels
    )
    return ev.edges
