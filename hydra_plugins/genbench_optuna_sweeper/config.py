"""Structured config of genbench's Optuna sweeper (hydra/sweeper=genbench_optuna)."""

# No `from __future__ import annotations`: Hydra runs this module before it is in
# sys.modules, where dataclasses cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TrialConf:
    """What one trial trains: the same for every family (equal effort)."""

    steps: int = 5000  # optimisation steps of every trial
    seeds: int = 3  # tuning seeds per trial; the objective is their mean KL
    seed: int = 0  # train.seed of the trials (seeds seed .. seed+seeds-1)


@dataclass
class RetrainConf:
    """The final comparison: default and tuned settings on fresh seeds."""

    enabled: bool = True  # retrain default and tuned when the search ends
    steps: int | None = None  # null: the config's train.steps (the full default)
    seeds: int = 8  # fresh seeds, none shared with the trials
    seed: int = 1000  # train.seed of the retrain jobs


@dataclass
class GenbenchOptunaSweeperConf:
    _target_: str = (
        "hydra_plugins.genbench_optuna_sweeper.optuna_sweeper.GenbenchOptunaSweeper"
    )
    n_trials: int = 24  # trials per study in total (a resumed study counts its own)
    n_jobs: int = 1  # trials per study launched together (parallel launchers)
    seed: int = 0  # TPE sampler seed
    n_startup_trials: int = 10  # TPE: random trials before the model takes over
    storage: str | None = None  # null: sqlite:///<sweep dir>/optuna.db
    study_name: str | None = None  # null: <model>_<target>_<scope><params>_bins<n>
    trial: TrialConf = field(default_factory=TrialConf)
    retrain: RetrainConf = field(default_factory=RetrainConf)
    # Search space per family (model.name): {key: Hydra sweep syntax}, e.g.
    # model.lr: tag(log, interval(1e-4, 1e-2)); set from
    # genbench/conf/tune/<family>.yaml.
    spaces: dict[str, Any] = field(default_factory=dict)
    # Fixed or swept overrides as for the basic sweeper (model: gan,vae,rbm makes
    # one study per family).
    params: dict[str, str] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="genbench_optuna",
    node=GenbenchOptunaSweeperConf,
    provider="genbench",
)
