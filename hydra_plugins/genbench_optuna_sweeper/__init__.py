"""genbench's Hydra sweeper for equal-effort tuning with Optuna (ask/tell).

`hydra/sweeper=genbench_optuna` (selected by `+experiment=tune`): one Optuna
study per model family, trials launched through Hydra's launcher, the study kept
in an SQLite file of the sweep folder. See `optuna_sweeper.py` and README
"Tuning". Optuna is imported only when the sweeper runs.
"""
