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
    axes[0].set_ylabel("x₂")
    fig.colorbar(im, ax=axes, shrink=0.8, label="density")
    fig.suptitle(_title(meta), fontsize=10)
    _save(fig, path)


def plot_curves(
    path: Path, history: list[dict], loss_keys: list[str], meta: dict
) -> None:
    """KL (log scale) and the training losses over steps, one line per seed."""
    keys = ["kl", "w1"] + loss_keys
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
        ax.set_title(
            {"kl": "KL(P‖Q)", "w1": "Wasserstein-1"}.get(key, key), fontsize=10
        )
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
    mass, 2D panels are heat maps on the scoring grid.
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
        vmax = (p / area).max()
        for ax, step, h in zip(axes.flat, steps, hists[:, 0], strict=False):
            ax.pcolormesh(ex, ey, (h / area).T, cmap="viridis", vmin=0, vmax=vmax)
            ax.set_title(f"step {step}", fontsize=8)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
    fig.suptitle(
        _title(meta) + f"  |  seed {meta['seeds'][0]} over training (grey: target)",
        fontsize=10,
    )
    _save(fig, path, dpi=100)


def plot_latent_manifold(
    path: Path, meta: dict, decoder, encoding, extent: float = 3.0, grid: int = 41
) -> None:
    """A decoder's output over a `grid x grid` grid of its 2D latent z in
    [-extent, extent]^2 (first seed), decoded to data space by `encoding`; one
    heat map per data axis."""
    import jax.numpy as jnp
    import jax.random as jr

    ticks = np.linspace(-extent, extent, grid)
    z = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1)
    y = decoder(jnp.asarray(z.reshape(-1, 2), jnp.float32))
    kind = "values" if encoding.mode != "binned" else "logits"
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


def plot_run(folder: Path, spec, result, budget: int) -> list[np.ndarray]:
    """Every figure of a run into `folder` (`plots/`): target vs model, the
    timeline, the curves and the family's own (`AbstractFamily.figures`).
    Returns the in-range cell edges per axis the run is scored on."""
    import jax

    from .metrics import Evaluator

    s = spec.settings
    meta = {
        "model": spec.family.name,
        "target": spec.target.name,
        "budget": budget,
        "hidden": spec.hidden,
        "n_params": spec.n_params,
        "seeds": list(range(s.seed, s.seed + s.seeds)),
    }
    ev = Evaluator(spec.target, spec.encoding, s.hist_bins)
    plot_target_vs_model(
        folder / "target_vs_model.png",
        spec.target,
        ev.edges,
        ev.p,
        result.final_hists,
        result.final["kl"],
        meta,
        binned=spec.encoding.mode == "binned",
    )
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
    plot_curves(folder / "curves.png", result.history, result.log_keys, meta)
    return ev.edges
