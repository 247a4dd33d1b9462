"""What `genbench --help` lists: the config groups a user picks from.

Hydra's own list (`$APP_CONFIG_GROUPS`) also shows the internal groups and
says nothing of what a group or option is. `groups_help` lists every group of
the config search path (genbench's and a user's `--config-dir`) except those in
`HIDDEN`: the group's meaning (`GROUPS`), then each option with
the first sentence of its YAML's leading comment. `genbench/conf/config.yaml`
calls it from `hydra.help.template` as the resolver `${genbench.groups:}`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["GROUPS", "groups_help", "first_comment"]

# What each of genbench's groups is for (a user's own groups are listed bare).
GROUPS = {
    "target": "the distribution to learn (1D, 2D, bit vectors, your own samples)",
    "model": "the model family and its settings (`*_original`: the original script's)",
    "budget": "how parameters are counted (budget.params: the budget)",
    "bins": "data for the models: continuous (bins.n=0) or N one-hot bins per axis",
    "train": "steps, batch size, seeds, snapshots, evaluation sizes",
    "experiment": "a named study, added with +experiment=NAME (most need -m)",
    "tune": "search spaces of +experiment=tune (chosen by the experiment)",
}
# Groups (and their subgroups) left out: Hydra's, the typed schemas, and the
# blocks that genbench's YAMLs include (shared/optimizer.yaml).
HIDDEN = ("hydra", "schema", "shared")


def first_comment(text: str, width: int = 76) -> str:
    """The first sentence of a YAML file's leading comment (`# @package` lines
    skipped), cut to `width` characters at a word; '' when the file starts
    with no comment."""
    words: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#"):
            break
        line = line.lstrip("#").strip()
        if not line.startswith("@package"):
            words += line.split()
    sentence = []
    for word in words:
        sentence.append(word)
        if word.endswith((".", ";")) and not word[:-1].isdigit():
            break
    out = " ".join(sentence).rstrip(".;")
    if len(out) > width:
        out = out[: width - 1].rsplit(" ", 1)[0] + "…"
    return out


def _text(sources, path: str) -> str:
    """The text of `path` (`group/option.yaml`) in the first config source that
    holds it: a folder (`file://`) or a package (`pkg://`); '' if none does
    (a schema stored in Python)."""
    for source in sources:
        if not source.is_config(path):
            continue
        scheme, where = source.scheme(), source.path
        if scheme == "file":
            return (Path(where) / path).read_text(encoding="utf-8")
        if scheme == "pkg":
            root = importlib.resources.files(where.replace("/", "."))
            return root.joinpath(path).read_text(encoding="utf-8")
        return ""
    return ""


def groups_help() -> str:
    """Every group a user picks from, with its meaning and options (see the
    module docstring). Needs Hydra to be running (it reads Hydra's config
    loader)."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    sources = loader.get_sources()

    def groups(parent: str = "") -> list[str]:
        out = []
        for name in loader.list_groups(parent):
            group = f"{parent}/{name}" if parent else name
            if group.split("/")[0] in HIDDEN:
                continue
            if loader.get_group_options(group):
                out.append(group)
            out += groups(group)
        return out

    lines = []
    for group in sorted(groups()):
        lines.append(f"{group}: {GROUPS.get(group, '')}".rstrip())
        options = sorted(loader.get_group_options(group))
        width = max(len(o) for o in options)
        for option in options:
            about = first_comment(_text(sources, f"{group}/{option}.yaml"))
            lines.append(f"  {option:<{width}}  {about}".rstrip())
    return "\n".join(lines)
