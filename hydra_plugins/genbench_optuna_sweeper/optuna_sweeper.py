"""The sweeper class Hydra finds; the work is in `_impl` (imports Optuna)."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import RetrainConf, TrialConf


class GenbenchOptunaSweeper(Sweeper):
    """One Optuna study per model family; trials are Hydra jobs.

    Each batch asks `n_jobs` trials of every study, launches them together through
    the configured launcher, reads each trial's `metrics.json` and tells Optuna the
    mean KL over the tuning seeds (or FAIL). When every study has `n_trials`
    finished trials, writes the best trial of each as a preset and retrains
    default and tuned settings on fresh seeds. See README "Tuning".
    """

    def __init__(
        self,
        n_trials: int,
        n_jobs: int,
        seed: int,
        n_startup_trials: int,
        storage: str | None,
        study_name: str | None,
        trial: Any,
        retrain: Any,
        spaces: Any,
        params: Any,
    ) -> None:
        super().__init__()
        # plain values (the fields of config.GenbenchOptunaSweeperConf)
        self.settings = {
            "n_trials": n_trials,
            "n_jobs": n_jobs,
            "seed": seed,
            "n_startup_trials": n_startup_trials,
            "storage": storage,
            "study_name": study_name,
            "spaces": spaces,
            "params": params,
        }
        self.trial = TrialConf(**trial)
        self.retrain = RetrainConf(**retrain)
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None
        self.task_function: TaskFunction | None = None

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.task_function = task_function
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from ._impl import run_search

        return run_search(self, arguments)
