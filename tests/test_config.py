"""genbench/config.py and the checks it relies on: every class refuses its own bad
values (built from a config or in Python alike), and `validate` refuses what
spans them, each with one ConfigError naming the key."""

from __future__ import annotations

import dataclasses
import importlib.util
import re

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

import genbench
from genbench import errors
from genbench.config import BinsConf, BudgetConf, ConfigError, build_run, validate
from genbench.models.base import AbstractFamily
from genbench.train import TrainSettings

from .conftest import (
    BINARY_TARGETS,
    CONF,
    EXPERIMENTS,
    FAST,
    MODELS,
    ROOT,
    compose_cfg,
    target_args,
)

# Every family class of conf/model, found through its YAML's `_target_`.
FAMILIES = sorted(
    {
        get_class(OmegaConf.load(CONF / "model" / f"{m}.yaml")["_target_"])
        for m in MODELS
    },
    key=lambda cls: cls.__name__,
)

# A bad value of each checked key, whichever family has it, and the other
# values that make the key count (`spread` only with `init_scheme=spread`).
BAD = {
    "lr": (-1.0, {}),
    "lr_g": (0.0, {}),
    "lr_d": (-1e-3, {}),
    "optimizer": ("rmsprop", {}),
    "schedule": ("linear", {}),
    "rng": ("mt19937", {}),
    "activation": ("gelu", {}),
    "latent_dim": (0, {}),
    "real_label": (1.5, {}),
    "gumbel_tau": (0.0, {}),
    "r1": (-0.1, {}),
    "ema": (1.0, {}),
    "beta": (0.0, {}),
    "binned_loss": ("hinge", {}),
    "binary_loss": ("hinge", {}),
    "cd_k": (0, {}),
    "persistent_chains": (-1, {}),
    "sigma": (0.0, {}),
    "sigma_lr": (-1.0, {}),
    "init_std": (0.0, {}),
    "init_scheme": ("uniform", {}),
    "spread": (-1.0, {"init_scheme": "spread"}),
    "cd_init": ("zeros", {}),
    "sampler": ("hmc", {}),
    "langevin_steps": (0, {}),
    "langevin_eta": (1.5, {"sampler": "gibbs_langevin"}),
    "eval_per_chain": (0, {}),
    "eval_burn_in": (0, {}),
    "eval_thin": (0, {}),
    "visible": ("gaussian", {}),
}

FAMILY_CASES = [
    pytest.param(cls, key, id=f"{cls.__name__}-{key}")
    for cls in FAMILIES
    for key in (f.name for f in dataclasses.fields(cls))
    if key in BAD
]


def _names_key(err: pytest.ExceptionInfo, key: str, value) -> None:
    message = str(err.value)
    assert message.startswith(f"{key}={value!r} is not allowed"), message
    assert "\n" not in message


def test_every_family_of_conf_is_checked():
    assert FAMILIES and all(issubclass(cls, AbstractFamily) for cls in FAMILIES)
    for cls in FAMILIES:  # every family has the shared keys that get checked
        assert {"lr", "optimizer", "schedule", "rng"} <= {
            f.name for f in dataclasses.fields(cls)
        }


@pytest.mark.parametrize("cls, key", FAMILY_CASES)
def test_a_family_built_in_python_refuses_a_bad_value(cls, key):
    bad, context = BAD[key]
    cls(**context)  # control: the context alone is allowed
    with pytest.raises(ConfigError) as err:
        cls(**context, **{key: bad})
    _names_key(err, f"model.{key}", bad)
    # dataclasses.replace builds the class again: the same check
    with pytest.raises(ConfigError, match=re.escape(f"model.{key}=")):
        dataclasses.replace(cls(**context), **{key: bad})


@pytest.mark.parametrize("cls", FAMILIES, ids=lambda cls: cls.__name__)
def test_a_family_accepts_its_defaults_and_replace_keeps_working(cls):
    family = cls()
    again = dataclasses.replace(family, n_steps=10, blocks=(1, 7))
    assert again.n_steps == 10 and again.blocks == (1, 7)


def test_a_family_checks_its_values_in_check_init_not_post_init():
    with pytest.raises(TypeError, match="__check_init__"):

        @dataclasses.dataclass(frozen=True)
        class Overrides(FAMILIES[0]):  # noqa: F841 (refused when defined)
            def __post_init__(self):
                pass

    calls = []

    @dataclasses.dataclass(frozen=True)
    class Checked(FAMILIES[0]):
        def __check_init__(self):
            calls.append(self.lr)

    Checked(lr=0.5)
    assert calls == [0.5]  # its own check ran ...
    with pytest.raises(ConfigError, match="model.rng"):
        Checked(rng="nope")  # ... and so did every base class's, first
    assert calls == [0.5]


def test_the_outside_family_of_the_readme_refuses_a_bad_value():
    path = ROOT / "docs" / "extend" / "my_family.py"
    spec = importlib.util.spec_from_file_location("my_family_for_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.GaussianMixture(lr=0.1).lr == 0.1
    with pytest.raises(ConfigError, match=re.escape("model.lr=-1.0 is not allowed")):
        module.GaussianMixture(lr=-1.0)


TRAIN_BAD = [
    ("steps", 0),
    ("batch_size", -1),
    ("seeds", 0),
    ("seed", -1),
    ("snapshot_percent", 0.0),
    ("snapshot_percent", 101.0),
    ("eval_samples", 0),
    ("snapshot_eval_samples", 0),
    ("hist_bins", 1),
    ("devices", 0),
]


@pytest.mark.parametrize("key, bad", TRAIN_BAD)
def test_train_settings_refuse_a_bad_value(key, bad):
    with pytest.raises(ConfigError) as err:
        TrainSettings(**{key: bad})
    _names_key(err, f"train.{key}", bad)


@pytest.mark.parametrize(
    "cls, key, bad",
    [
        (BudgetConf, "params", 0),
        (BudgetConf, "scope", "all"),
        (BinsConf, "n", 1),
        (BinsConf, "n", -2),
        (BinsConf, "decode", "mean"),
    ],
)
def test_budget_and_bins_refuse_a_bad_value(cls, key, bad):
    group = "budget" if cls is BudgetConf else "bins"
    with pytest.raises(ConfigError) as err:
        cls(**{key: bad})
    _names_key(err, f"{group}.{key}", bad)


@pytest.mark.parametrize(
    "overrides, key, allowed",
    [
        # more snapshots asked for than there are steps (TrainSettings runs it)
        (
            ["train.steps=3", "train.snapshot_percent=5"],
            "train.steps",
            [["train.steps=3", "train.snapshot_percent=50"], ["train.steps=20"]],
        ),
        # the RBM's options that need continuous data, with binned data
        (
            ["model=rbm", "model.init_scheme=spread", "bins.n=8"],
            "model.init_scheme",
            [["model=rbm", "model.init_scheme=spread"], ["model=rbm", "bins.n=8"]],
        ),
        (
            ["model=rbm", "model.sampler=gibbs_langevin", "bins.n=8"],
            "model.sampler",
            [["model=rbm", "model.sampler=gibbs_langevin"]],
        ),
        # ... and with bit vectors
        (
            ["model=rbm", "model.sampler=gibbs_langevin", "target=binary_cardinality"],
            "model.sampler",
            [["model=rbm", "target=binary_cardinality"]],
        ),
    ],
)
def test_validate_refuses_values_that_span_groups(overrides, key, allowed):
    with pytest.raises(ConfigError, match=re.escape(f"{key}=")):
        validate(compose_cfg(*overrides))
    for control in allowed:  # the parts alone are allowed
        validate(compose_cfg(*control))


def test_validate_and_build_run_accept_the_defaults():
    validate(compose_cfg())
    spec = build_run(compose_cfg(*FAST))
    assert spec.settings.steps == 200 and spec.hidden > 0


def test_config_error_is_one_class_everywhere():
    assert genbench.ConfigError is errors.ConfigError is ConfigError
    assert issubclass(ConfigError, ValueError)


OPTIMIZER_KEYS = ("optimizer", "lr", "b1", "b2", "schedule")


@pytest.mark.parametrize("family", MODELS)
def test_no_family_writes_out_the_shared_optimiser_block(family):
    """The optimiser settings are written once (conf/shared/optimizer.yaml); a
    family's YAML that uses them includes that block and changes only what
    differs for it (a family with its own optimiser, like docs/extend's, need
    not include it, but must not copy it)."""
    shared = OmegaConf.load(CONF / "shared" / "optimizer.yaml")
    own = OmegaConf.load(CONF / "model" / f"{family}.yaml")
    assert set(OPTIMIZER_KEYS) <= set(shared)
    assert OmegaConf.is_missing(shared, "lr")  # each family sets its own
    copied = [
        k
        for k in OPTIMIZER_KEYS
        if k in own and not OmegaConf.is_missing(shared, k) and own[k] == shared[k]
    ]
    assert not copied, f"{family}.yaml repeats {copied} from shared/optimizer.yaml"
    if "/shared/optimizer@_here_" in own.get("defaults", []):
        assert "lr" in own
        composed = compose_cfg(f"model={family}").model
        for key in OPTIMIZER_KEYS:
            assert composed[key] == (own[key] if key in own else shared[key])


def test_the_shared_optimiser_block_keeps_each_familys_settings():
    for family in ("gan", "vae", "rbm"):
        own = OmegaConf.load(CONF / "model" / f"{family}.yaml")
        assert "/shared/optimizer@_here_" in own.defaults
    gan, vae, rbm = (compose_cfg(f"model={m}").model for m in ("gan", "vae", "rbm"))
    assert (gan.optimizer, gan.lr, gan.b1, gan.b2, gan.schedule) == (
        "adam",
        1e-3,
        0.5,
        0.999,
        "cosine",
    )
    assert (vae.lr, vae.b1, vae.schedule) == (3e-3, 0.9, "cosine")
    assert (rbm.lr, rbm.b1, rbm.momentum, rbm.schedule) == (3e-2, 0.9, 0.0, "cosine")
    # a preset still pins its own values over the shared block
    original = compose_cfg("model=gan_original").model
    assert (original.lr, original.schedule) == (2e-4, "constant")


@pytest.mark.parametrize("target", BINARY_TARGETS)
def test_bit_vector_targets_refuse_bins_in_one_line(target):
    cfg = compose_cfg(*target_args(target), "bins.n=16", *FAST)
    with pytest.raises(ValueError) as err:
        build_run(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"bins.n=16 is not allowed with target '{target}'")
    assert "allowed: 0" in message


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["target.n=1"], "target.n=1 for target 'binary_bars_stripes': must be an"),
        (["target.n=5"], "target.n=5 for target 'binary_bars_stripes': must be an"),
        (["bins.n=8"], "bins.n=8 is not allowed with target 'binary_bars_stripes'"),
        (["target.coverage_samples=0"], "target.coverage_samples=0"),
    ],
)
def test_bad_binary_settings_are_refused_in_one_line(overrides, message):
    cfg = compose_cfg("target=binary_bars_stripes", *overrides, *FAST)
    with pytest.raises(ConfigError, match=message):
        build_run(cfg)


def test_rbm_options_for_continuous_data_are_refused_with_bits():
    for option in ("model.init_scheme=spread", "model.sampler=gibbs_langevin"):
        cfg = compose_cfg("model=rbm", "target=binary_bars_stripes", option, *FAST)
        with pytest.raises(ConfigError, match=option.split("=")[0]):
            build_run(cfg)


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.steps=0", "train.steps"),
        ("train.batch_size=-1", "train.batch_size"),
        ("train.seeds=0", "train.seeds"),
        ("train.snapshot_percent=0", "train.snapshot_percent"),
        ("train.snapshot_percent=150", "train.snapshot_percent"),
        ("train.eval_samples=0", "train.eval_samples"),
        ("budget.params=0", "budget.params"),
        ("bins.n=1", "bins.n"),
        ("bins.n=-3", "bins.n"),
        ("model.lr=0", "model.lr"),
        ("model.lr=-1e-3", "model.lr"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_cfg(override))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose(experiment):
    cfg = compose_cfg(f"+experiment={experiment}")
    validate(cfg)
    if experiment == "original":
        assert cfg.train.steps == 100_000 and cfg.train.batch_size == 128


@pytest.mark.parametrize(
    "model, key, allowed",
    [
        ("gan", "optimizer", "genbench.models.base:OPTIMIZERS"),
        ("gan", "schedule", "genbench.models.base:SCHEDULES"),
        ("gan", "rng", "genbench.rng:IMPLS"),
        ("vae", "binned_loss", "genbench.models.vae:BINNED_LOSSES"),
        ("rbm", "visible", "genbench.models.rbm:VISIBLE"),
        ("rbm", "init_scheme", "genbench.models.rbm:INIT_SCHEMES"),
        ("rbm", "cd_init", "genbench.models.rbm:CD_INITS"),
        ("rbm", "sampler", "genbench.models.rbm:SAMPLERS"),
    ],
)
def test_each_allowed_values_list_is_the_one_next_to_its_code(model, key, allowed):
    import importlib

    module, name = allowed.split(":")
    values = getattr(importlib.import_module(module), name)
    for value in values:  # every listed value is accepted
        build_run(compose_cfg(f"model={model}", f"model.{key}={value}", *FAST))
    with pytest.raises(ConfigError, match=re.escape(f"{values}")):
        build_run(compose_cfg(f"model={model}", f"model.{key}=nope", *FAST))
