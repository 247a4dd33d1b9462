"""Command-line overrides that Hydra would refuse, refused first in one line.

Hydra reports its own composition errors (an unknown key or group, a missing
group option, a value of the wrong type, bad override syntax) in several lines,
and a sweep has already written `multirun/<date>/<time>/multirun.yaml` by the
time it finds them. `check_overrides` composes the command line's job configs
before Hydra does, with Hydra's own config loader, search path (genbench's
configs, a user's `--config-dir`) and override parser, and rewords the
exceptions Hydra raises from their own data (the failing key, its parent node,
the expected type, the group's options) as one `ConfigError` line:

    model.lrr=1: model=gan has no key 'lrr' (did you mean model.lr? keys: ...)
    model=vea: no option 'vea' in group model (did you mean vae? options: ...)

A sweep's jobs are checked with each value of each comma list, the other lists
at their first value (one compose per value, not per job). An error it does not
recognise is left to Hydra, which reports it as before; so is everything with
HYDRA_FULL_ERROR=1.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence

from .errors import ConfigError
from .usage import HIDDEN

__all__ = ["CONFIG_NAME", "CONFIG_PATH", "check_overrides", "explain"]

# Those of `hydra.main` in genbench/run.py (a `-cp`/`-cn` on the command line wins).
CONFIG_PATH, CONFIG_NAME = "conf", "config"
GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic/"


def check_overrides(task_function: Callable, argv: Sequence[str] | None = None):
    """Raise `ConfigError` (one line: the override, what is wrong, what is
    allowed) if Hydra would refuse the overrides of `argv` (default
    `sys.argv[1:]`) for `task_function` (the function under `hydra.main`);
    return None if it would not, or if its error is not one reworded here."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException
    from hydra.types import RunMode

    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return None
    args = get_args_parser().parse_args(argv)
    loader = _loader(getattr(task_function, "__wrapped__", task_function), args)
    if loader is None or args.shell_completion:
        return None
    name = args.config_name or CONFIG_NAME
    parser = OverridesParser.create(config_loader=loader)
    try:
        parsed = parser.parse_overrides(list(args.overrides))
    except OverrideParseException as err:
        why = err.message.splitlines()[0]
        line = f"{err.override}: not an override ({why}; see {GRAMMAR})"
        raise ConfigError(line) from None
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if sweeps and not args.multirun and not _multirun_in_config(loader, name, args):
        line = sweeps[0].input_line
        raise ConfigError(f"{line}: a list of values is a sweep: add -m (--multirun)")
    for job in _jobs(parsed):
        try:
            loader.load_configuration(name, job, RunMode.RUN)
        except Exception as err:  # what is not reworded is left to Hydra
            message = explain(err, parser.parse_overrides(job), loader, name)
            if message is None:
                return None
            raise ConfigError(message) from None
    return None


def _loader(task_function: Callable, args):
    """Hydra's config loader with the search path `hydra.main` builds for
    `task_function` and `args` (`--config-dir`, `--config-path`); None when the
    search path is refused (Hydra says why)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import (
        create_automatic_config_search_path,
        detect_calling_file_or_module_from_task_function,
    )
    from hydra.core.config_search_path import SearchPathQuery

    file, module = detect_calling_file_or_module_from_task_function(task_function)
    path = create_automatic_config_search_path(
        file, module, args.config_path or CONFIG_PATH
    )
    if args.config_dir is not None:
        folder = os.path.abspath(args.config_dir)
        if not os.path.isdir(folder):
            return None
        path.prepend(
            provider="command-line",
            path=f"file://{folder}",
            anchor=SearchPathQuery(provider="schema"),
        )
    return ConfigLoaderImpl(config_search_path=path)


def _multirun_in_config(loader, name: str, args) -> bool:
    """Whether the config itself sets `hydra.mode=MULTIRUN` (as Hydra checks)."""
    from hydra.types import RunMode

    try:
        cfg = loader.load_configuration(
            name, list(args.overrides), RunMode.MULTIRUN, validate_sweep_overrides=False
        )
    except Exception:
        return True  # let Hydra decide and report
    return cfg.hydra.mode == RunMode.MULTIRUN


def _jobs(parsed) -> list[list[str]]:
    """The job override lists to compose: the plain overrides, with each value
    of each discrete sweep in turn (the other sweeps at their first value).
    Interval sweeps (a search space) are left out."""
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        for o in parsed
        if o.is_sweep_override() and o.is_discrete_sweep()
    ]
    sweeps = [values for values in sweeps if values]
    jobs = [plain + [values[0] for values in sweeps]]
    for i, values in enumerate(sweeps):
        others = [v[0] for v in sweeps]
        for value in values[1:]:
            jobs.append(plain + others[:i] + [value] + others[i + 1 :])
    return jobs


def _suggest(word: str, allowed: Sequence[str], prefix: str = "") -> str:
    """'did you mean X? ' for the closest of `allowed`, or ''."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f"did you mean {prefix}{close[0]}? " if close else ""


def _groups(loader) -> list[str]:
    """The top-level groups a user picks from (not Hydra's or internal ones)."""
    return [g for g in loader.list_groups("") if g not in HIDDEN]


def explain(err: Exception, job, loader, name: str) -> str | None:
    """One line for Hydra's exception `err` from composing `job` (parsed
    overrides) with `loader`: the override, what is wrong, what is allowed;
    None when `err` is not one of those reworded here."""
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf.errors import ConfigKeyError, ValidationError

    if isinstance(err, MissingConfigException):
        return _missing_option(err, job, loader)
    if not isinstance(err, ConfigCompositionException):
        return None
    cause = err.__cause__
    if isinstance(cause, ConfigKeyError | AttributeError) and cause.full_key:
        over = _find(job, cause.full_key)
        if over is not None:
            return _unknown_key(over, cause, job, loader, name)
    if isinstance(cause, ValidationError) and cause.full_key:
        over = _find(job, cause.full_key)
        if over is not None:
            return f"{over.input_line}: {_expected(cause)}"
    if cause is None:
        message = _add_or_delete(job, loader, name)
        if message is not None:
            return message
    for over in job:  # a group that the defaults list does not hold
        group = over.key_or_group
        if (
            cause is None
            and str(err).startswith(f"Could not override '{group}'. No match")
            and loader.get_group_options(group)
        ):
            line = over.input_line
            return f"{line}: group {group} is not in the defaults; add it with +{line}"
    return None


def _find(job, full_key: str):
    """The override of `job` that sets `full_key`: the key itself, a key below
    it (`modle.lr` for `modle`), else the nearest key above it (`model={a: 1}`
    for `model.a`)."""
    keys = [o.key_or_group for o in job]
    for test in (
        lambda k: k == full_key,
        lambda k: k.startswith(f"{full_key}."),
    ):
        for over, key in zip(job, keys, strict=True):
            if test(key):
                return over
    above = [(len(k), i) for i, k in enumerate(keys) if full_key.startswith(f"{k}.")]
    return job[max(above)[1]] if above else None


def _add_or_delete(job, loader, name: str) -> str | None:
    """`+key=v` where the key exists, `~key` where it does not: found by
    composing the other overrides and looking the key up."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    for over in job:
        if not (over.is_add() or over.is_delete()) or over.package is not None:
            continue
        others = [o.input_line for o in job if o is not over]
        try:
            cfg = loader.load_configuration(name, others, RunMode.RUN)
        except Exception:
            return None
        key, line = over.key_or_group, over.input_line
        found = OmegaConf.select(cfg, key, throw_on_missing=False) is not None
        if over.is_add() and found:
            return f"{line}: {key} exists; set it with {line[1:]} (or ++{line[1:]})"
        if over.is_delete() and not found:
            return f"{line}: there is no {key} to delete"
    return None


def _unknown_key(over, cause, job, loader, name: str) -> str:
    """`<override>: <where> has no key '<key>' (did you mean ...? keys: ...)`;
    at the top level, groups are offered as well as keys. The keys are those
    of the config composed without `over` (OmegaConf's `parent_node` may be a
    mapping it made up on the way), else of `parent_node`."""
    from hydra.types import RunMode
    from omegaconf import DictConfig, OmegaConf

    key, where = cause.key, cause.full_key.rpartition(".")[0]
    parent, choices = cause.parent_node, {}
    try:
        others = [o.input_line for o in job if o is not over]
        cfg = loader.load_configuration(name, others, RunMode.RUN)
        choices = dict(cfg.hydra.runtime.choices)  # `model=gan` holds model.*
        parent = OmegaConf.select(cfg, where) if where else cfg
    except Exception:
        pass
    if not isinstance(parent, DictConfig):  # `model.optimizer.lrr`: a value
        return f"{over.input_line}: {where} is a value, not a mapping with keys"
    keys = [str(k) for k in parent.keys() if not str(k).startswith("_")]
    if not where:  # `modle=vae`: a misspelt group, or a key of the root
        groups = _groups(loader)
        ordered = [k for k in keys if k in groups]
        ordered += [g for g in groups if g not in keys]
        plain = [k for k in keys if k not in groups and k != "hydra"]
        close = difflib.get_close_matches(str(key), ordered + plain, n=1)
        kind = "group or key" if not close else "group" if close[0] in groups else "key"
        near = f"did you mean {close[0]}? " if close else ""
        listed = f"groups: {', '.join(ordered)}; keys: {', '.join(plain)}"
        return f"{over.input_line}: no {kind} '{key}' ({near}{listed})"
    group = where.replace(".", "/")
    owner = f"{where}={choices[group]}" if choices.get(group) else where
    near = _suggest(str(key), keys, prefix=f"{where}.")
    listed = ", ".join(keys)
    return f"{over.input_line}: {owner} has no key '{key}' ({near}keys: {listed})"


def _expected(cause) -> str:
    """What a node accepts, from its type (OmegaConf's first line otherwise)."""
    from omegaconf import BooleanNode, EnumNode, FloatNode, IntegerNode, StringNode

    node = cause.child_node
    if isinstance(node, IntegerNode):
        return "must be an integer"
    if isinstance(node, FloatNode):
        return "must be a number"
    if isinstance(node, BooleanNode):
        return "must be true or false"
    if isinstance(node, EnumNode):
        return f"must be one of {', '.join(m.name for m in node.enum_type)}"
    if isinstance(node, StringNode):
        return "must be a string"
    return str(cause.msg).splitlines()[0]


def _missing_option(err, job, loader) -> str | None:
    """`group=option` names no config: the group's options, or no such group."""
    group, _, option = str(err.missing_cfg_file or "").rpartition("/")
    over = next((o for o in job if o.key_or_group == group), None)
    if not group or over is None:
        return None  # the primary config, or a YAML's own defaults list
    options = sorted(err.options or loader.get_group_options(group))
    line = over.get_key_element() + "=" + option
    if options:
        near = _suggest(option, options)
        return (
            f"{line}: no option '{option}' in group {group} "
            f"({near}options: {', '.join(options)})"
        )
    groups = _groups(loader)
    near = _suggest(group, groups)
    return f"{line}: no group '{group}' ({near}groups: {', '.join(groups)})"
