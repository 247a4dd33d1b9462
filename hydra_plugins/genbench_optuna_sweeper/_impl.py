"""The search: one Optuna study per model, driven by ask/tell; trials are Hydra jobs.

Order of work (`run_search`):
1. plan: parse the command line and `hydra.sweeper.params` (a `model=a,b,c`
   sweep makes one study per model; other sweeps add search dimensions), compose
   each model's config and check every dimension against it; any bad input is a
   one-line error before a trial runs;
2. open or continue each study in the storage (SQLite in the sweep folder by
   default) and refuse one that was started with other settings;
3. batches: trials left open by a dead process first, then `n_jobs` new trials of
   every study, launched together; each trial's `metrics.json` gives its
   objective (mean KL over the tuning seeds) or FAIL; an interrupted batch stops
   the search, leaving its trials open for the next run;
4. when every study has `n_trials` finished trials: presets of the best trials,
   then the default and the tuned settings retrained on fresh seeds.

Optuna facts this relies on (optuna 5.0): `create_study(load_if_exists=True)`
loads a study by name; `Study.ask(fixed_distributions)` suggests every
distribution at once and stores the values with the trial; `Study.tell(number,
value | state=FAIL)` finishes a RUNNING trial by its number from any process;
`Study.sampler` is a plain attribute (replaced before each ask so that trial n
is sampled with seed `seed + n`, the same after a resume).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from genbench.session import SESSION
from genbench.tune import (
    Dimension,
    TuneError,
    format_value,
    load_state,
    parse_dimension,
    read_result,
    save_state,
    write_presets,
)

# Keys the sweeper sets itself for trials and retraining.
OWNED = ("train.steps", "train.seeds", "train.seed")
# Tuning keeps what is compared fixed: the target, the budget, the encoding.
FIXED_GROUPS = ("target", "budget", "bins")
# Keys that do not change what a job computes (as in override_dirname's excludes).
DISPLAY_KEYS = ("jax_cache", "train.progress", "train.devices")


def _fail(message: str) -> None:
    """A bad setting: one line and exit 1 (the traceback with HYDRA_FULL_ERROR=1)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise TuneError(message)
    print(f"genbench: error: {message}", file=sys.stderr)
    raise SystemExit(1)


@dataclass
class StudyPlan:
    """One family's search: what its trials and retrain jobs run."""

    model: str  # the model preset tuned (the `model` choice), e.g. "rbm"
    family: str  # model.name
    fixed: list[str]  # overrides every job of this study shares
    dims: list[Dimension]
    defaults: dict[str, Any]  # the searched keys' values in the untuned config
    retrain_steps: int
    fingerprint: dict[str, Any]
    study: Any = None
    relaunch: list[Any] = field(default_factory=list)  # open trials of dead runs


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_dead(owner: str | None) -> bool:
    """An open trial's process is gone: it ran on this host and has ended."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return False  # another machine's trial: it may still be running
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


class Search:
    def __init__(self, sweeper, arguments: list[str]) -> None:
        self.sw = sweeper
        self.cfg = sweeper.config
        self.loader = sweeper.hydra_context.config_loader
        self.s = sweeper.settings
        self.trial = sweeper.trial
        self.retrain = sweeper.retrain
        self.sweep_dir = Path(str(self.cfg.hydra.sweep.dir))
        self.job_idx = 0
        self.plans = self._plan(arguments)

    # --- 1. plan --------------------------------------------------------------

    def _compose(self, overrides: list[str], what: str):
        try:
            return self.loader.load_sweep_config(
                master_config=self.cfg, sweep_overrides=list(overrides)
            )
        except Exception as err:
            line = _first_line(err)
            if err.__cause__ is not None:
                line += f" ({_first_line(err.__cause__)})"
            _fail(f"{what}: {line}")

    def _check_settings(self) -> None:
        s, t, r = self.s, self.trial, self.retrain
        for key, value, least in (
            ("n_trials", s["n_trials"], 1),
            ("n_jobs", s["n_jobs"], 1),
            ("n_startup_trials", s["n_startup_trials"], 0),
            ("trial.steps", t.steps, 1),
            ("trial.seeds", t.seeds, 1),
            ("trial.seed", t.seed, 0),
            ("retrain.steps", r.steps, 1),  # or null: the config's train.steps
            ("retrain.seeds", r.seeds, 1),
            ("retrain.seed", r.seed, 0),
        ):
            if value is not None and value < least:
                _fail(
                    f"hydra.sweeper.{key}={value!r} is not allowed: must be >= {least}"
                )
        if r.seed < t.seed + t.seeds and t.seed < r.seed + r.seeds:
            _fail(
                f"hydra.sweeper.retrain.seed={r.seed} is not allowed: the retrain "
                f"seeds {r.seed}..{r.seed + r.seeds - 1} must not overlap the tuning "
                f"seeds {t.seed}..{t.seed + t.seeds - 1} (fresh seeds keep the "
                "selection honest)"
            )

    def _plan(self, arguments: list[str]) -> list[StudyPlan]:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self._check_settings()
        params = [f"{k}={v}" for k, v in (self.s.get("params") or {}).items()]
        parser = OverridesParser.create(config_loader=self.loader)
        try:
            overrides = parser.parse_overrides(params + list(arguments))
        except Exception as err:
            _fail((str(err).strip().splitlines() or ["bad override"])[0])
        # The last override of a key wins (the command line over params), as in
        # Hydra's basic sweeper.
        last = {o.get_key_element().lstrip("+~"): o for o in overrides}
        groups = set(OmegaConf.to_container(self.cfg.hydra.runtime.choices))
        models: list[str | None] = [None]
        fixed: list[str] = []
        extra: dict[str, str] = {}
        for o in last.values():
            key = o.get_key_element()
            bare = key.lstrip("+~")
            if o.is_sweep_override():
                if bare == "model":
                    models = [str(v) for v in o.sweep_string_iterator()]
                    continue
                if bare in groups or bare.split(".")[0] in FIXED_GROUPS:
                    _fail(
                        f"{key}={o.get_value_string()} is not allowed: tuning "
                        "sweeps model families only (model=gan,vae,rbm); the target, "
                        "budget and encoding stay fixed: one command per setting"
                    )
                extra[bare] = o.get_value_string()
                continue
            if bare in OWNED:
                _fail(
                    f"{key}={o.get_value_element_as_str()} is not allowed here: the "
                    "sweeper sets it; use hydra.sweeper.trial.{steps,seeds,seed} for "
                    "the trials and hydra.sweeper.retrain.{steps,seeds,seed} for the "
                    "retrain"
                )
            fixed.append(f"{key}={o.get_value_element_as_str()}")
        plans = [self._plan_model(m, fixed, extra) for m in models]
        names = [p.model for p in plans]
        if len(set(names)) < len(names):
            _fail(f"model={','.join(names)} is not allowed: a model is listed twice")
        return plans

    def _plan_model(
        self, model: str | None, fixed: list[str], extra: dict[str, str]
    ) -> StudyPlan:
        from genbench.config import validate

        base = fixed + ([f"model={model}"] if model else [])
        untuned = self._compose(base, "the config")
        model = model or untuned.hydra.runtime.choices.model
        family = str(untuned.model.name)
        t = self.trial
        trial_base = base + [
            f"train.steps={t.steps}",
            f"train.seeds={t.seeds}",
            f"train.seed={t.seed}",
        ]
        cfg = self._compose(trial_base, f"model={model}")
        spaces = OmegaConf.to_container(self.s.get("spaces") or {}, resolve=True)
        if family not in spaces and not extra:
            _fail(
                f"model={model} is not allowed: no search space for family "
                f"{family!r} (hydra.sweeper.spaces has {sorted(spaces)}); add "
                f"tune/{family}.yaml (in genbench/conf/ or your --config-dir) to the "
                "defaults of experiment/tune.yaml"
            )
        where = f"hydra.sweeper.spaces.{family}"
        texts = {**(spaces.get(family) or {}), **extra}
        if not texts:
            _fail(f"{where}={{}} is not allowed: the search space is empty")
        labels = {k: (None if k in extra else where) for k in texts}
        fixed_keys = {f.split("=", 1)[0].lstrip("+~") for f in fixed}
        dims: list[Dimension] = []
        absent = object()
        defaults = {}
        for key, text in texts.items():
            dim = parse_dimension(str(key), str(text), labels[key])
            name = dim.key if labels[key] is None else f"{where}.{key}"
            value = OmegaConf.select(cfg, dim.key, default=absent)
            if value is absent or dim.key.startswith("hydra."):
                _fail(
                    f"{name}={text!r} is not allowed: the {model} config has no key "
                    f"{dim.key}"
                )
            if dim.key in OWNED or dim.key.split(".")[0] in FIXED_GROUPS:
                _fail(
                    f"{name}={text!r} is not allowed: tuning keeps train.steps/seeds/"
                    "seed and the target, budget and encoding fixed"
                )
            if dim.key in fixed_keys:
                _fail(
                    f"{dim.key} is set on the command line and searched ({name}); "
                    "drop one of them"
                )
            if isinstance(value, (dict, list)) or OmegaConf.is_config(value):
                _fail(
                    f"{name}={text!r} is not allowed: {dim.key} is not a single value"
                )
            defaults[dim.key] = value
            for candidate in dim.candidates():
                probe = self._compose(
                    trial_base + [f"{dim.key}={format_value(candidate)}"],
                    f"{name}={text!r} is not allowed: {dim.key}={candidate!r}",
                )
                try:
                    validate(probe)
                except ValueError as err:
                    _fail(f"{name}={text!r} is not allowed: {err}")
            dims.append(dim)
        job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        shown = OmegaConf.to_container(job, resolve=True)
        for key in DISPLAY_KEYS:
            node, *rest = key.split(".")
            if rest:
                shown.get(node, {}).pop(rest[0], None)
            else:
                shown.pop(node, None)
        fingerprint = {
            "config": shown,
            "space": {d.key: d.text for d in dims},
            "trial": {"steps": t.steps, "seeds": t.seeds, "seed": t.seed},
        }
        retrain_steps = self.retrain.steps or int(untuned.train.steps)
        return StudyPlan(
            model=model,
            family=family,
            fixed=base,
            dims=dims,
            defaults=defaults,
            retrain_steps=retrain_steps,
            fingerprint=json.loads(json.dumps(fingerprint, default=str)),
        )

    # --- 2. studies -------------------------------------------------------------

    def setting(self) -> dict[str, Any]:
        cfg = self._compose(self.plans[0].fixed, "the config")
        return {
            "target": str(cfg.hydra.runtime.choices.target),
            "budget": int(cfg.budget.params),
            "scope": str(cfg.budget.scope),
            "bins": int(cfg.bins.n),
        }

    def open_studies(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        setting = self.setting()
        state = load_state(self.sweep_dir)
        if state.get("setting") and state["setting"] != setting:
            _fail(
                f"hydra.sweep.dir={str(self.sweep_dir)!r} is not allowed: it holds the "
                f"tuning of {state['setting']}, not {setting}; choose another folder"
            )
        self.storage = self.s.get("storage") or (
            f"sqlite:///{(self.sweep_dir / 'optuna.db').resolve()}"
        )
        prefix = self.s.get("study_name") or (
            f"{setting['target']}_{setting['scope']}{setting['budget']}"
            f"_bins{setting['bins']}"
        )
        for plan in self.plans:
            name = f"{prefix}/{plan.model}"
            try:
                study = optuna.create_study(
                    study_name=name,
                    storage=self.storage,
                    direction="minimize",
                    load_if_exists=True,
                )
            except Exception as err:
                _fail(f"hydra.sweeper.storage={self.storage!r} is not allowed: {err}")
            stored = study.user_attrs.get("genbench")
            if stored is None:
                study.set_user_attr("genbench", plan.fingerprint)
            elif stored != plan.fingerprint:
                what = _first_difference(stored, plan.fingerprint)
                _fail(
                    f"study {name!r} in {self.storage} was started with other "
                    f"settings ({what}); choose another hydra.sweep.dir or "
                    "hydra.sweeper.study_name"
                )
            plan.study = study
            plan.relaunch = [
                t
                for t in study.get_trials(deepcopy=False)
                if t.state.name == "RUNNING" and _is_dead(t.user_attrs.get("owner"))
            ]
        self.state = state
        self.state["setting"] = setting
        self.state.setdefault("studies", {})

    # --- 3. search ------------------------------------------------------------------

    def _ask(self, plan: StudyPlan):
        from optuna.samplers import TPESampler

        n = len(plan.study.get_trials(deepcopy=False))
        # A fresh sampler seeded by the trial's number: trial n is sampled the
        # same way whether or not the search was interrupted before it.
        plan.study.sampler = TPESampler(
            seed=self.s["seed"] + n, n_startup_trials=self.s["n_startup_trials"]
        )
        trial = plan.study.ask({d.key: d.distribution() for d in plan.dims})
        trial.set_user_attr("owner", _owner())
        trial.set_user_attr("folder", self._folder(plan, trial.number))
        return trial.number, dict(trial.params)

    def _folder(self, plan: StudyPlan, number: int) -> str:
        return f"{plan.model}/trial_{number:04d}"

    def _counted(self, plan: StudyPlan) -> int:
        """Trials that count towards n_trials: finished, or open and alive."""
        stale = {t.number for t in plan.relaunch}
        return sum(
            1
            for t in plan.study.get_trials(deepcopy=False)
            if t.state.name in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")
            and t.number not in stale
        )

    def _launch(self, jobs: list[tuple[list[str], str]]):
        batch = [list(o) + [f"hydra.sweep.subdir={folder}"] for o, folder in jobs]
        self.sw.validate_batch_is_legal(batch)
        returns = self.sw.launcher.launch(batch, initial_job_idx=self.job_idx)
        self.job_idx += len(batch)
        return returns

    def search(self) -> bool:
        """Run batches until every study has n_trials; False if interrupted."""
        while True:
            jobs, meta = [], []
            for plan in self.plans:
                picked = []
                while plan.relaunch and len(picked) < self.s["n_jobs"]:
                    t = plan.relaunch.pop(0)  # same number, settings and folder
                    picked.append((t.number, dict(t.params)))
                free = self.s["n_trials"] - self._counted(plan) - len(plan.relaunch)
                while len(picked) < self.s["n_jobs"] and free > 0:
                    picked.append(self._ask(plan))
                    free -= 1
                for number, params in picked:
                    folder = self._folder(plan, number)
                    values = [f"{k}={format_value(v)}" for k, v in params.items()]
                    jobs.append((plan.fixed + self._trial_overrides() + values, folder))
                    meta.append((plan, number))
            if not jobs:
                return True
            self._launch(jobs)
            stopped = False
            for (plan, number), (_, folder) in zip(meta, jobs, strict=True):
                result = read_result(self.sweep_dir / folder)
                if result.state == "unfinished":
                    stopped = True
                    print(
                        f"genbench tune: {plan.model} trial {number} did not finish "
                        f"({result.reason}); it runs again when the command is re-run",
                        file=sys.stderr,
                    )
                    continue
                if result.state == "complete":
                    plan.study.tell(number, result.value)
                else:
                    plan.study.tell(number, state=_fail_state())
                    SESSION.diverged_trials.add(
                        os.path.abspath(self.sweep_dir / folder)
                    )
                self._report(plan, number, result)
            self.save()
            if stopped:
                return False

    def _trial_overrides(self) -> list[str]:
        t = self.trial
        return [
            f"train.steps={t.steps}",
            f"train.seeds={t.seeds}",
            f"train.seed={t.seed}",
        ]

    def _report(self, plan: StudyPlan, number: int, result) -> None:
        finished = [
            t for t in plan.study.get_trials(deepcopy=False) if t.state.is_finished()
        ]
        done = [t for t in finished if t.state.name == "COMPLETE"]
        best = min(done, key=lambda t: t.value) if done else None
        what = (
            f"KL {result.value:.4f}"
            if result.state == "complete"
            else f"FAILED ({result.reason})"
        )
        best_text = f"; best {best.value:.4f} (trial {best.number})" if best else ""
        print(
            f"genbench tune: {plan.model} trial {number} "
            f"({len(finished)}/{self.s['n_trials']}): {what}{best_text}",
            file=sys.stderr,
        )

    # --- 4. presets and retraining ---------------------------------------------------

    def finish(self) -> None:
        jobs = []
        for plan in self.plans:
            record = self.state["studies"][plan.model]
            open_trials = [
                t
                for t in plan.study.get_trials(deepcopy=False)
                if t.state.name == "RUNNING"
            ]
            if open_trials:
                record["status"] = (
                    f"waiting for {len(open_trials)} open trial(s) of other processes"
                )
                continue
            best = _best(plan.study)
            record["status"] = "searched" if best else "searched: no trial succeeded"
            if best is not None:
                t = self.trial
                note = (
                    f"Tuned by genbench (+experiment=tune): study "
                    f"{plan.study.study_name}, trial {best.number} of "
                    f"{len(plan.study.trials)}, mean KL {best.value:.6g} over seeds "
                    f"{t.seed}..{t.seed + t.seeds - 1} at {t.steps} steps."
                )
                paths = write_presets(
                    self.sweep_dir / "tuned", plan.model, dict(best.params), note
                )
                record["presets"] = {
                    k: str(p.relative_to(self.sweep_dir)) for k, p in paths.items()
                }
            if not self.retrain.enabled:
                continue
            r = self.retrain
            base = plan.fixed + [
                f"train.steps={plan.retrain_steps}",
                f"train.seeds={r.seeds}",
                f"train.seed={r.seed}",
            ]
            record["retrain_jobs"] = {"default": f"{plan.model}/retrain_default"}
            jobs.append((base, f"{plan.model}/retrain_default"))
            if best is not None:
                values = [f"{k}={format_value(v)}" for k, v in best.params.items()]
                record["retrain_jobs"]["tuned"] = f"{plan.model}/retrain_tuned"
                jobs.append((base + values, f"{plan.model}/retrain_tuned"))
        self.save()
        if jobs:
            print(
                f"genbench tune: retraining default and tuned settings "
                f"({len(jobs)} job(s)) at {self.plans[0].retrain_steps} steps on seeds "
                f"{self.retrain.seed}..{self.retrain.seed + self.retrain.seeds - 1}",
                file=sys.stderr,
            )
            self._launch(jobs)
            for plan in self.plans:
                record = self.state["studies"][plan.model]
                folders = (record.get("retrain_jobs") or {}).values()
                results = [read_result(self.sweep_dir / f) for f in folders]
                if folders and all(r.state != "unfinished" for r in results):
                    record["status"] = "done"
                elif folders:
                    record["status"] = "retrain unfinished: re-run the command"
            self.save()

    # --- the record ------------------------------------------------------------------

    def _reason(self, trial) -> str | None:
        folder = trial.user_attrs.get("folder")
        if trial.state.name != "FAIL" or not folder:
            return None
        return read_result(self.sweep_dir / folder).reason

    def save(self) -> None:
        for plan in self.plans:
            record = self.state["studies"].setdefault(plan.model, {})
            best = _best(plan.study)
            record.update(
                {
                    "study_name": plan.study.study_name,
                    "storage_label": _label(self.storage),
                    "family": plan.family,
                    "n_trials": self.s["n_trials"],
                    "trial": dict(plan.fingerprint["trial"]),
                    "retrain": {
                        "enabled": self.retrain.enabled,
                        "steps": plan.retrain_steps,
                        "seeds": self.retrain.seeds,
                        "seed": self.retrain.seed,
                    },
                    "sampler": {
                        "name": "TPESampler",
                        "seed": self.s["seed"],
                        "n_startup_trials": self.s["n_startup_trials"],
                    },
                    "space": {d.key: d.text for d in plan.dims},
                    "defaults": plan.defaults,
                    "trials": [
                        {
                            "number": t.number,
                            "state": t.state.name,
                            "value": t.value,
                            "params": t.params,
                            "folder": t.user_attrs.get("folder"),
                            "reason": self._reason(t),
                        }
                        for t in plan.study.get_trials(deepcopy=False)
                    ],
                    "best": None
                    if best is None
                    else {
                        "number": best.number,
                        "value": best.value,
                        "params": best.params,
                    },
                }
            )
            record.setdefault("status", "searching")
        save_state(self.sweep_dir, self.state)

    def announce(self) -> None:
        s, t = self.s, self.trial
        setting = self.state["setting"]
        mode = "continuous" if setting["bins"] == 0 else f"{setting['bins']} bins"
        lines = [
            f"genbench tune: {setting['target']}, budget {setting['budget']} "
            f"({setting['scope']}), {mode} -> {self.sweep_dir}",
            f"  trial budget per model: {s['n_trials']} trials x {t.seeds} seeds x "
            f"{t.steps} steps = {s['n_trials'] * t.seeds * t.steps} seed-steps; "
            f"objective: mean KL over seeds {t.seed}..{t.seed + t.seeds - 1}; "
            f"TPE seed {s['seed']} ({s['n_startup_trials']} random trials first)",
        ]
        for plan in self.plans:
            done = sum(
                t.state.is_finished() for t in plan.study.get_trials(deepcopy=False)
            )
            cont = (
                f"; {done} of {s['n_trials']} trials done, continuing" if done else ""
            )
            lines.append(
                f"  {plan.model}: searching {', '.join(d.key for d in plan.dims)}{cont}"
            )
        if self.retrain.enabled:
            r = self.retrain
            lines.append(
                f"  then: default and tuned retrained at {self.plans[0].retrain_steps} "
                f"steps on seeds {r.seed}..{r.seed + r.seeds - 1}"
            )
        lines.append(f"  storage: {self.storage}")
        print("\n".join(lines), file=sys.stderr)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _fail_state():
    from optuna.trial import TrialState

    return TrialState.FAIL


def _best(study):
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return min(done, key=lambda t: (t.value, t.number)) if done else None


def _label(storage: str) -> str:
    """The storage URL without a password."""
    if "@" in storage and "://" in storage:
        scheme, rest = storage.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return storage


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(
                    a.get(key), b.get(key), f"{path}.{key}".strip(".")
                )
        return path or "?"
    return f"{path}: {a!r} then, {b!r} now"


def run_search(sweeper, arguments: list[str]) -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        _fail(
            "hydra/sweeper=genbench_optuna needs Optuna, which is not installed: "
            "pip install -e '.[tune]'"
        )
    try:
        search = Search(sweeper, arguments)
    except TuneError as err:
        _fail(str(err))
    search.sweep_dir.mkdir(parents=True, exist_ok=True)
    search.open_studies()
    OmegaConf.save(search.cfg, search.sweep_dir / "multirun.yaml")
    search.save()
    search.announce()
    for plan in search.plans:
        search.state["studies"].setdefault(plan.model, {})["status"] = "searching"
    if search.search():
        search.finish()
