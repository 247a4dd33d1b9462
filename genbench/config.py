"""Validation, and the conversion of a config into objects (`build_run`).

A target or a model family is found through its YAML's `_target_` and nothing
else: there is no list of classes. `build_run` checks each group against its
class before any JAX work (argument names, required arguments, value types, from
the constructor's signature or the dataclass's fields); then every class checks
its own values as it is built (a family in `__check_init__`, the train, budget
and bins settings in `__post_init__`), and `validate` adds what spans them.
Every refusal is one ConfigError naming the key, the value and what is allowed.
The root, `budget`, `bins` and `train` groups keep typed schemas in Hydra's
ConfigStore. Nothing below `build_run` sees a DictConfig.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import inspect
import logging
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from .budget import SCOPES
from .encoding import DECODE_MODES
from .errors import ConfigError, one_of, require
from .models.base import AbstractFamily

__all__ = [
    "Config",
    "ConfigError",
    "RunSpec",
    "build_run",
    "register_configs",
    "validate",
]


@dataclass
class BudgetConf:
    # "total": every trained parameter; "sampler": only what draws samples.
    scope: str = "total"
    params: int = 1600

    def __post_init__(self) -> None:
        require(self.params > 0, "budget.params", self.params, "must be > 0")
        require(self.scope in SCOPES, "budget.scope", self.scope, " or ".join(SCOPES))


@dataclass
class BinsConf:
    n: int = 0  # 0: continuous data
    decode: str = "hard"

    def __post_init__(self) -> None:
        require(self.n >= 0 and self.n != 1, "bins.n", self.n, "0 or >= 2")
        one_of("bins.decode", self.decode, DECODE_MODES)


@dataclass
class Config:
    target: Any = MISSING
    model: Any = MISSING
    budget: BudgetConf = field(default_factory=BudgetConf)
    bins: BinsConf = field(default_factory=BinsConf)
    train: Any = MISSING
    jax_cache: str | None = None
    plots: str = "all"  # the figures of each run (artifacts.PLOTS)


# --- schemas derived from code -------------------------------------------------


def _omegaconf_type(tp: Any) -> Any:
    """Translate an annotation into one OmegaConf can check (else Any)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in (int, float, str, bool):
        return tp
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return typing.Optional[_omegaconf_type(rest[0])]  # noqa: UP045
        return Any
    if origin in (list, tuple, cabc.Sequence) and args:
        inner = _omegaconf_type(args[0])
        return list[inner] if inner is not Any else list[Any]
    return Any


def _schema(name: str, target: str | None, items: list[tuple[str, Any, Any]]):
    fields = [] if target is None else [("_target_", str, field(default=target))]
    for key, tp, default in items:
        if default is inspect.Parameter.empty or default is dataclasses.MISSING:
            default = MISSING
        if isinstance(default, (list, tuple)):
            fields.append((key, tp, field(default_factory=lambda d=default: list(d))))
        else:
            fields.append((key, tp, field(default=default)))
    return dataclasses.make_dataclass(name, fields)


def dataclass_schema(cls: type, exclude: tuple[str, ...] = (), target: bool = True):
    """Structured config of a dataclass (a model family, the train settings)."""
    hints = typing.get_type_hints(cls)
    items = [
        (f.name, _omegaconf_type(hints[f.name]), f.default)
        for f in dataclasses.fields(cls)
        if f.name not in exclude
    ]
    name = f"{cls.__module__}.{cls.__qualname__}" if target else None
    return _schema(f"{cls.__name__}Conf", name, items)


def target_schema(cls: type):
    """Structured config of a target class, from its constructor's signature."""
    sig = inspect.signature(cls.__init__)
    hints = typing.get_type_hints(cls.__init__)
    items = [
        (p.name, _omegaconf_type(hints.get(p.name, Any)), p.default)
        for p in list(sig.parameters.values())[1:]
    ]
    return _schema(f"{cls.__name__}Conf", f"{cls.__module__}.{cls.__qualname__}", items)


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (idempotent)."""
    from .identity import run_name, short_dirname
    from .train import TrainSettings
    from .usage import groups_help

    # job folder names of a sweep (genbench/conf/config.yaml: hydra.sweep.subdir)
    OmegaConf.register_new_resolver("genbench.dirname", short_dirname, replace=True)
    # a single run's folder name (hydra.run.dir)
    OmegaConf.register_new_resolver("genbench.run_name", run_name, replace=True)
    # the groups of `--help` (genbench/conf/config.yaml: hydra.help.template)
    OmegaConf.register_new_resolver("genbench.groups", groups_help, replace=True)
    cs = ConfigStore.instance()

    cs.store(name="schema", node=Config)
    cs.store(
        group="schema/train",
        name="TrainSettings",
        node=dataclass_schema(TrainSettings, target=False),
    )


# --- validation ----------------------------------------------------------------


def validate(cfg: DictConfig) -> None:
    """Check `cfg` without training: build its objects, each class refusing its
    own values, and refuse what no single class can (`_check_across`). Raises
    ConfigError."""
    _guarded(_objects, cfg)


def _check_across(settings: Any) -> None:
    """The checks no class makes on its own. A TrainSettings runs with any
    snapshot_percent (fewer snapshots than asked when the steps are few), but a
    config that asks for more snapshots than it has steps is refused."""
    pct = settings.snapshot_percent
    n_snapshots = math.ceil(100 / pct)
    require(
        settings.steps >= n_snapshots,
        "train.steps",
        settings.steps,
        f"train.snapshot_percent={pct} asks for {n_snapshots} "
        f"snapshots, so at least {n_snapshots} steps (or a larger snapshot_percent)",
    )


# --- config -> objects -----------------------------------------------------------

# A family's arguments that genbench supplies itself (from train.steps, bins.n and
# the encoding: bit vectors get Bernoulli units).
FAMILY_ARGS = ("n_steps", "blocks", "bernoulli")


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs, as plain objects."""

    target: Any
    family: AbstractFamily
    encoding: Any
    settings: Any
    hidden: int
    n_params: int
    n_params_total: int
    n_params_sampler: int


def _locate(key: str, path: Any) -> Any:
    """The class named by `<key>._target_`; ConfigError if it cannot be imported."""
    import importlib

    if not isinstance(path, str) or not path:
        raise ConfigError(
            f"{key}._target_={path!r} is not allowed: the dotted path of a class, "
            "e.g. genbench.targets.Mixture1D"
        )
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and module.startswith(err.name):
                continue  # no such module: try a shorter prefix
            msg = f"{key}._target_={path!r} cannot be imported: {err}"
            raise ConfigError(msg) from err
        except Exception as err:  # the module exists but fails to import
            raise ConfigError(
                f"{key}._target_={path!r} cannot be imported: "
                f"{type(err).__name__}: {err}"
            ) from err
        for name in parts[i:]:
            if not hasattr(obj, name):
                raise ConfigError(
                    f"{key}._target_={path!r} cannot be imported: "
                    f"{obj.__name__!r} has no attribute {name!r}"
                )
            obj = getattr(obj, name)
        if not callable(obj):
            raise ConfigError(f"{key}._target_={path!r} is not a class")
        return obj
    raise ConfigError(f"{key}._target_={path!r} cannot be imported: no such module")


def _type_name(tp: Any) -> str:
    """`list[float]`, `float or null`: an annotation as a reader writes it."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        names = " or ".join(_type_name(a) for a in rest)
        return f"{names} or null" if len(rest) < len(args) else names
    if typing.get_origin(tp) in (list, tuple, cabc.Sequence):
        return f"list[{_type_name(args[0])}]" if args else "list"
    return getattr(tp, "__name__", str(tp)).replace("Any", "any value")


def _schema_of(cls: type, fixed: tuple[str, ...]) -> Any:
    """The structured config that types `cls`'s arguments, or None if the
    annotations cannot be read."""
    try:
        if dataclasses.is_dataclass(cls):
            return dataclass_schema(cls, exclude=fixed, target=False)
        return target_schema(cls)
    except Exception:  # unusual annotations: construction will tell
        return None


def _arguments(
    key: str, node: Any, cls: type | None = None, fixed: tuple[str, ...] = ()
) -> tuple[type, dict[str, Any]]:
    """The class and the typed keyword arguments that `node` (the config group
    `key`) asks for. `fixed`: arguments that genbench supplies itself.

    Raises ConfigError naming the key for an unknown or missing argument, a value
    of the wrong type and a `_target_` that cannot be imported: a user's own YAML
    (`--config-dir`) need not carry the schema that checks genbench's own files.
    """
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{key}={node!r} is not allowed: a mapping of arguments")
    kw = OmegaConf.to_container(node, resolve=True)
    assert isinstance(kw, dict)
    path = kw.pop("_target_", None)
    if cls is None:
        cls = _locate(key, path)
    params = inspect.signature(cls).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [n for n, p in params.items() if p.kind in kinds and n not in fixed]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kw if k not in names]
    if unknown and not takes_any:
        listed = ", ".join(f"{key}.{k}" for k in unknown)
        verb = "is not an argument" if len(unknown) == 1 else "are not arguments"
        raise ConfigError(
            f"{listed} {verb} of {cls.__name__}; allowed: {', '.join(names)}"
        )
    required = [n for n in names if params[n].default is inspect.Parameter.empty]
    missing = [n for n in required if n not in kw]
    if missing:
        raise ConfigError(
            f"{key}.{missing[0]} is missing: {cls.__name__} requires "
            f"{', '.join(required)}"
        )
    schema = _schema_of(cls, fixed)
    if schema is None or takes_any:
        return cls, kw
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), kw)
        values = OmegaConf.to_container(typed, resolve=True)
    except Exception as err:
        full = str(getattr(err, "full_key", "") or "")
        top = full.split(".")[0].split("[")[0]
        types_ = {f.name: f.type for f in dataclasses.fields(schema)}
        if top in types_ and top in kw:
            raise ConfigError(
                f"{key}.{top}={kw[top]!r} is not allowed: {cls.__name__} expects "
                f"{_type_name(types_[top])}"
            ) from err
        raise ConfigError(
            f"{key}: {cls.__name__} cannot take these values: {type(err).__name__}: "
            + str(err).splitlines()[0]
        ) from err
    assert isinstance(values, dict)
    return cls, {k: values[k] for k in kw}


def _build(cls: type, key: str, kw: dict[str, Any], **fixed: Any) -> Any:
    """`cls(**fixed, **kw)`; an error other than a ValueError (whose messages name
    the key) becomes a ConfigError naming the config group."""
    try:
        return cls(**fixed, **kw)
    except ValueError:
        raise
    except Exception as err:
        raise ConfigError(
            f"{key}: {cls.__name__} cannot be built from these values: "
            f"{type(err).__name__}: {err}"
        ) from err


def resolved(cfg: DictConfig) -> dict:
    """The resolved config as plain data, the `target` and `model` groups typed
    by their classes (`model.lr=1` is stored as 1.0, as the class takes it), so
    that the same run has the same identity however its values were written.
    ConfigError if an interpolation fails; a group that cannot be typed is left
    as written (`build_run` then names what is wrong)."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"the config cannot be resolved: {first}") from err
    for key, fixed in (("target", ()), ("model", FAMILY_ARGS)):
        try:
            cls, kw = _arguments(key, cfg.get(key), fixed=fixed)
        except Exception:
            continue
        config[key] = {"_target_": config[key]["_target_"], **kw}
    return config


def build_run(cfg: DictConfig) -> RunSpec:
    """Validate `cfg` and turn it into a RunSpec.

    Raises ConfigError (a ValueError) for anything that stops the config from
    becoming objects: a refused value, an unknown or missing argument, a value of
    the wrong type, a `_target_` that cannot be imported, or any other error
    raised while building (named with its config group).
    """
    return _guarded(_build_run, cfg)


def _guarded(build: typing.Callable, cfg: DictConfig) -> Any:
    """`build(cfg, stage)`, every error a ConfigError; `stage[0]` names the group
    being built, for an error that does not name its key."""
    stage = ["config"]
    try:
        return build(cfg, stage)
    except ConfigError:
        raise
    except (ValueError, NotImplementedError) as err:
        # the classes' own checks: their messages name the key and the value
        raise ConfigError(str(err)) from err
    except Exception as err:
        raise ConfigError(f"{stage[0]}: {type(err).__name__}: {err}") from err


def _objects(cfg: DictConfig, stage: list[str]) -> tuple:
    """`(target, encoding, family, settings, budget)`, each class checking its
    own values as it is built; a group that others are built from is built and
    checked first (train.steps: the family's schedule; bins: the encoding)."""
    from .artifacts import PLOTS
    from .encoding import make_encoding
    from .train import TrainSettings

    one_of("plots", cfg.get("plots", "all"), PLOTS)
    stage[0] = "target"
    target_cls, target_kw = _arguments("target", cfg.get("target"))
    stage[0] = "model"
    family_cls, family_kw = _arguments("model", cfg.get("model"), fixed=FAMILY_ARGS)
    stage[0] = "train"
    _, train_kw = _arguments("train", cfg.get("train"), cls=TrainSettings)
    settings = _build(TrainSettings, "train", train_kw)
    _check_across(settings)
    stage[0] = "budget"
    budget = BudgetConf(**OmegaConf.to_container(cfg.budget, resolve=True))
    stage[0] = "bins"
    bins = BinsConf(**OmegaConf.to_container(cfg.bins, resolve=True))
    stage[0] = "target"
    target = _build(target_cls, "target", target_kw)
    stage[0] = "bins"
    encoding = make_encoding(target, bins.n, bins.decode)
    stage[0] = "model"
    family = _build(
        family_cls,
        "model",
        family_kw,
        n_steps=settings.steps,
        blocks=(target.dim, bins.n) if bins.n else None,
        bernoulli=encoding.bits,  # bit vectors: Bernoulli units
    )
    return target, encoding, family, settings, budget


def _build_run(cfg: DictConfig, stage: list[str]) -> RunSpec:
    from .budget import count_params, solve_hidden

    target, encoding, family, settings, budget = _objects(cfg, stage)
    _warn_ignored(cfg, encoding, family, settings)
    stage[0] = "budget"
    dim = encoding.model_dim
    hidden = solve_hidden(family, dim, budget.params, budget.scope)
    return RunSpec(
        target=target,
        family=family,
        encoding=encoding,
        settings=settings,
        hidden=hidden,
        n_params=count_params(family, dim, hidden, budget.scope),
        n_params_total=count_params(family, dim, hidden, "total"),
        n_params_sampler=count_params(family, dim, hidden, "sampler"),
    )


def _warn_ignored(cfg: DictConfig, encoding: Any, family: Any, settings: Any) -> None:
    """Log one warning line for a setting this run does not use: `bins.decode`
    changed from its default where nothing is decoded from logits (continuous
    or bit-vector data, a family that samples one-hot states), `train.devices`
    above the devices JAX has (the run uses those)."""
    import jax

    log = logging.getLogger("genbench")
    decode, label = cfg.bins.decode, encoding.decode_label(family.output_kind)
    if decode != BinsConf.decode and label != decode:
        why = f"{encoding.mode} data" if label is None else f"{family.name}: {label}"
        log.warning(f"bins.decode={decode!r} has no effect here ({why})")
    available = len(jax.devices())
    if settings.devices is not None and settings.devices > available:
        log.warning(
            f"train.devices={settings.devices} is more than the {available} "
            f"device(s) JAX has ({jax.default_backend()}); using {available}"
        )
