"""Draw docs/targets.png: one small panel per target of genbench/conf/target/
(the README's target table). 1D: the exact density (Poisson: its pmf); 2D: the
exact density (`plots.density_image`); bit vectors: a few of the valid patterns.
The `empirical` target needs a data file and is left out.

    python scripts/target_thumbnails.py [--out docs/targets.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from genbench import plots  # noqa: E402
from genbench.config import register_configs  # noqa: E402
from genbench.targets import AbstractBinaryTarget  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _target(name: str):
    with initialize_config_dir(
        config_dir=str(ROOT / "genbench" / "conf"), version_base="1.3"
    ):
        cfg = compose(config_name="config", overrides=[f"target={name}"])
    return instantiate(cfg.target, _convert_="all")


def _panel(ax, target) -> None:
    if isinstance(target, AbstractBinaryTarget):
        rows, cols = target.pattern_shape
        shown = target.patterns_[:: max(1, target.n_patterns // 6)][:6]
        # six patterns in 2 x 3, with grey gaps between them
        canvas = np.full((2 * rows + 1, 3 * cols + 2), 0.5)
        for i, p in enumerate(shown):
            r, c = divmod(i, 3)
            y, x = r * (rows + 1), c * (cols + 1)
            canvas[y : y + rows, x : x + cols] = p.reshape(rows, cols)
        ax.imshow(canvas, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{len(shown)} of {target.n_patterns} patterns", fontsize=7)
    elif target.dim == 2:
        plots._density_panel(ax, *plots.density_image(target, 120), cmap="viridis")
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        (edges,) = target.hist_edges()
        lo, hi = edges[0], edges[-1]
        if target.is_discrete:
            p = target.bin_probs([edges])
            ax.bar((edges[:-1] + edges[1:]) / 2, p, width=0.8, color="C0")
        else:
            grid = np.linspace(lo, hi, 400)
            ax.fill_between(grid, target.density(grid), color="C0", alpha=0.7)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        ax.set_xlim(lo, hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "targets.png"))
    args = parser.parse_args()
    register_configs()
    names = sorted(
        p.stem
        for p in (ROOT / "genbench" / "conf" / "target").glob("*.yaml")
        if p.stem != "empirical"
    )
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.3 * cols, 2.1 * rows), layout="constrained"
    )
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        _panel(ax, _target(name))
        ax.set_title(name, fontsize=8)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
