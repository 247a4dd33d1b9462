"""Hydra entry point: `python -m genbench.run model=rbm target=1d_trimodal`.

Wiring only: config -> objects (`config.build_run`), `train.train`, then the
artifacts, figures and console summary of one run in Hydra's output directory.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .config import register_configs

log = logging.getLogger("genbench")
register_configs()

_FAILED: list[str] = []  # jobs of this process that failed (for the exit code)
_SKIPPED: list[str] = []  # sweep jobs skipped because they were already complete
_MULTIRUN: list[bool] = []  # set when a job of a multirun ran in this process
_STOP: list[bool] = []  # set by the first SIGINT/SIGTERM (see _stop_on_signal)
USER_ERRORS = (ValueError, NotImplementedError)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    job = " ".join(hc.overrides.task)
    multirun = hc.mode == RunMode.MULTIRUN
    if multirun:
        _MULTIRUN.append(True)
    for noisy in ("jax._src.xla_bridge", "matplotlib", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    compilation_cache(cfg.get("jax_cache"))
    from .config import build_run

    if _STOP:  # Ctrl-C during an earlier job of this sweep: run nothing more
        print(f"genbench: not run (interrupted): {job}", file=sys.stderr)
        _FAILED.append(f"interrupted before it started: {job}")
        return None
    choices = _choices()
    config = None
    try:
        config = _resolved(cfg)
        if multirun and _resume(out, Path(hc.sweep.dir), config, choices):
            return None
        spec = build_run(cfg)
        _check_memory(spec, cfg)
    except USER_ERRORS as err:
        # A configuration error: one readable line, no traceback, nothing written
        # (the full traceback with HYDRA_FULL_ERROR=1, as for Hydra's own errors).
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"genbench: error: {err}", file=sys.stderr)
        if not multirun:
            _FAILED.append(str(err))
            return None
        # In a sweep the job's folder records why it did not run.
        from . import artifacts
        from .identity import identity_hash

        artifacts.write_json(
            out / "metrics.json",
            {
                "status": "config_error",
                "error": str(err),
                "identity": identity_hash(config) if config else None,
                "choices": choices,
                "config": config,
            },
        )
        _FAILED.append(f"{job}: {err}")
        return None
    if not multirun:
        return run_spec(spec, cfg, out)
    try:  # in a sweep, a job that raises is recorded and the others go on
        return run_spec(spec, cfg, out)
    except Exception as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        from . import artifacts
        from .identity import identity_hash

        trace = traceback.format_exc()
        artifacts.atomic_write(out / "error.txt", trace)
        record = {
            "status": "error",
            "error": f"{type(err).__name__}: {err}",
            "identity": identity_hash(config),
            "choices": choices,
            "config": config,
        }
        artifacts.write_json(out / "metrics.json", record)
        print(
            f"genbench: error: job {job!r} failed: {record['error']} "
            f"(traceback in {out / 'error.txt'})",
            file=sys.stderr,
        )
        _FAILED.append(f"{job}: {record['error']}")
        return None


def _resolved(cfg: DictConfig) -> dict:
    """The resolved config as plain data; ConfigError if an interpolation fails."""
    from .config import ConfigError

    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"the config cannot be resolved: {first}") from err


def _choices() -> dict[str, str | None]:
    """Hydra's choice of each config group (`model: vae_original`), Hydra's own
    groups left out: the report labels presets by them."""
    choices = HydraConfig.get().runtime.choices
    return {k: v for k, v in choices.items() if not k.startswith(("hydra/", "schema"))}


def _resume(out: Path, sweep_dir: Path, config: dict, choices: dict) -> bool:
    """Skip a sweep job whose configuration and seeds already have a complete
    result in the sweep folder (found by identity, not by job number); say why
    when a job that was tried before runs again."""
    from . import artifacts
    from .identity import find_complete, identity_hash, rerun_reason

    train = config.get("train") or {}
    seed, n = int(train.get("seed", 0)), int(train.get("seeds", 1))
    seeds = list(range(seed, seed + n))
    found = find_complete(out, sweep_dir, config, seeds)
    if found is None:
        reason = rerun_reason(out, sweep_dir, config, seeds)
        if reason:
            print(f"genbench: re-running {out.name}: {reason}", file=sys.stderr)
        return False
    _SKIPPED.append(str(out))
    if found == out:
        print(f"genbench: skipped (complete, same config): {out}", file=sys.stderr)
        return True
    # Another job folder holds this configuration and these seeds: record where,
    # so the folder is not taken for a job that never ran (the report skips it).
    same_as = os.path.relpath(found, out)
    artifacts.write_json(
        out / "metrics.json",
        {
            "status": "duplicate",
            "same_as": same_as,
            "identity": identity_hash(config),
            "choices": choices,
            "seeds": seeds,
            "config": config,
        },
    )
    print(
        f"genbench: skipped (same configuration and seeds as {found.name}): {out}",
        file=sys.stderr,
    )
    return True


def _check_memory(spec, cfg: DictConfig) -> None:
    """Refuse, before compiling, a run whose estimated peak memory does not fit."""
    from .train import check_memory

    check_memory(
        spec.family,
        spec.target,
        spec.encoding,
        spec.settings,
        spec.hidden,
        cfg.budget.params,
        cfg.budget.scope,
    )


def run_spec(spec, cfg: DictConfig, out: Path) -> float | None:
    """Train, write every artifact under `out`, print the summary; returns mean KL."""
    from . import artifacts
    from .identity import identity_hash
    from .metrics import METRIC_RANGES, Evaluator
    from .train import train

    t0 = time.perf_counter()
    config = OmegaConf.to_container(cfg, resolve=True)
    s = spec.settings
    seeds = list(range(s.seed, s.seed + s.seeds))
    saved: list[bool] = []
    # A step's FLOPs (XLA's cost analysis, for the training-budget figures),
    # traced beside the compilation instead of after it.
    background = ThreadPoolExecutor(max_workers=1)
    flops = background.submit(
        spec.family.step_flops, spec.encoding.model_dim, spec.hidden, s.batch_size
    )
    background.shutdown(wait=False)

    def save_training(result) -> None:
        """History and parameters, written before the final evaluation (and
        after an interruption): a failure there loses no training."""
        if result.history:
            artifacts.write_csv(out / "history.csv", result.history)
        nets = [spec.family.params(_index(result.states, i)) for i in range(s.seeds)]
        artifacts.save_params(out / "params", nets, seeds)
        saved.append(True)

    try:
        result = train(
            spec.family,
            spec.target,
            spec.encoding,
            s,
            spec.hidden,
            should_stop=lambda: bool(_STOP),
            on_trained=save_training,
        )
    except KeyboardInterrupt:  # a second signal while compiling: nothing trained
        result = None
    if result is None or not result.snapshot_steps:
        print(
            "genbench: interrupted before the first snapshot; nothing written",
            file=sys.stderr,
        )
        _FAILED.append("interrupted before the first snapshot")
        return None
    # the modes of a mixture: its components of positive weight
    modes_total = None if spec.target.modes is None else len(spec.target.modes)
    ranges = {**METRIC_RANGES, "modes": (0.0, modes_total or 0.0)}
    metrics = {
        k: artifacts.seed_stats(v, result.floor.get(k), ranges[k])
        for k, v in result.final.items()
    }
    n_ok = int((result.diverged_step < 0).sum())
    status = "ok" if n_ok == s.seeds else ("failed" if n_ok == 0 else "partial")
    if result.interrupted:
        status = "interrupted"
    meta = {
        "model": spec.family.name,
        "target": spec.target.name,
        "budget": cfg.budget.params,
        "hidden": spec.hidden,
        "n_params": spec.n_params,
        "seeds": seeds,
    }

    if not saved:
        save_training(result)
    if result.samples is not None:
        artifacts.save_samples(out / "samples.npz", result.samples, seeds)

    from . import plots

    ev = Evaluator(spec.target, spec.encoding, s.hist_bins)
    if result.snapshot_steps:
        plots.plot_target_vs_model(
            out / "plots" / "target_vs_model.png",
            spec.target,
            ev.edges,
            ev.p,
            result.final_hists,
            result.final["kl"],
            meta,
            binned=spec.encoding.mode == "binned",
        )
        plots.plot_timeline(
            out / "plots" / "timeline.png",
            spec.target,
            ev.edges,
            ev.p,
            result.snapshot_steps,
            result.snapshot_hists,
            meta,
        )
        _plot_manifold(spec, result, out / "plots" / "latent_manifold.png", meta)
        plots.plot_curves(
            out / "plots" / "curves.png", result.history, result.log_keys, meta
        )

    wall = time.perf_counter() - t0
    payload = {
        "status": status,
        "model": spec.family.name,
        "target": spec.target.name,
        "encoding": spec.encoding.mode,
        "bins": cfg.bins.n,
        "decode": _decode_label(spec),
        "budget": {"params": cfg.budget.params, "scope": cfg.budget.scope},
        "hidden": spec.hidden,
        "n_params": spec.n_params,
        "n_params_total": spec.n_params_total,
        "n_params_sampler": spec.n_params_sampler,
        "steps": s.steps,
        "steps_done": result.steps_done,
        "batch_size": s.batch_size,
        "flops_per_step": _flops(flops),
        "seeds": seeds,
        "seed_status": [
            {"seed": seed, **(failure or {"status": "ok"})}
            for seed, failure in zip(seeds, result.failures, strict=True)
        ],
        # the final evaluation's sample count (a snapshot's if interrupted)
        "eval_samples": result.eval_samples,
        # every row of history.csv is scored on this many (its eval_samples)
        "snapshot_eval_samples": s.snapshot_eval_samples,
        "modes_total": modes_total,
        "hist_bins": [len(e) - 1 for e in ev.edges],
        "metrics": metrics,
        "timing": {**result.timings, "wall_seconds": wall},
        "identity": identity_hash(config),
        "choices": _choices(),
        "config": config,
        "environment": artifacts.environment(),
    }
    artifacts.write_json(out / "metrics.json", payload)
    print(_summary(payload, out))
    if status == "failed":
        _FAILED.append(f"every seed diverged or ran away: {out}")
    if result.interrupted:
        _FAILED.append(f"interrupted at step {result.steps_done}: {out}")
    kl = metrics["kl"]["mean"]
    return kl


def _flops(future) -> float | None:
    """A step's FLOPs per seed, or None if XLA's cost analysis gave none."""
    try:
        value = future.result()
    except Exception:  # a cost analysis this backend lacks: no figure, no failure
        return None
    return value if math.isfinite(value) else None


def _plot_manifold(spec, result, path: Path, meta: dict) -> None:
    """The VAE's decoder over a grid of its 2D latent (other models: nothing)."""
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np

    from .models import VAE
    from .plots import plot_latent_manifold

    if not isinstance(spec.family, VAE) or spec.family.latent_dim != 2:
        return
    extent, g = 3.0, 41
    axis = np.linspace(-extent, extent, g)
    z = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    nets = _index(result.states, 0).nets
    y = nets.decoder(jnp.asarray(z.reshape(-1, 2), jnp.float32))
    kind = "values" if spec.encoding.mode != "binned" else "logits"
    x = np.asarray(spec.encoding.decode(y, jr.key(0), kind))
    plot_latent_manifold(path, z, x.reshape(g, g, -1), meta, extent)


def _decode_label(spec) -> str | None:
    """How binned samples became positions: a decode mode, or the model's states."""
    if spec.encoding.mode != "binned":
        return None
    if spec.family.output_kind == "states":
        return "states (the model samples one-hot units)"
    return spec.encoding.decode_mode


@contextlib.contextmanager
def _stop_on_signal():
    """Ctrl-C (SIGINT) or SIGTERM asks the run to stop at its next snapshot.

    The first signal only sets `_STOP`: training ends after the chunk it is in,
    the completed snapshots are saved as usual and a sweep starts no further job.
    A second signal raises KeyboardInterrupt at once (files are written
    atomically, so nothing is left half-written). A flag, not an exception, so
    that the stop never lands inside library code (JAX dispatch, a finaliser
    that would swallow it, a lock held by the background compile).
    """

    def handler(signum, frame):
        if _STOP:
            raise KeyboardInterrupt
        _STOP.append(True)
        # os.write: the main thread may be inside a buffered write to stderr
        os.write(
            2,
            b"\ngenbench: stopping after the current snapshot and saving it; "
            b"interrupt again to stop at once\n",
        )

    # A signal ignored on entry stays ignored, as in any Unix program: a shell
    # starts background jobs of a script with SIGINT ignored.
    signals = [
        sig
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    ]
    try:
        previous = [signal.signal(sig, handler) for sig in signals]
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, prev in zip(signals, previous, strict=True):
            signal.signal(sig, prev)


def compilation_cache(path: str | None) -> None:
    """Persist compiled programs across runs (a sweep compiles each shape once);
    `None` leaves JAX's setting alone."""
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(Path(path).expanduser()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _index(tree, i: int):
    import jax

    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _fmt(stat: dict, digits: int = 4) -> str:
    """`mean ± std [95 % interval], floor F (x times the floor)`."""
    if stat["mean"] is None:
        return "n/a (every seed diverged or ran away)"
    text = f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    if stat.get("ci95"):
        lo, hi = stat["ci95"]
        text += f"  95% CI [{lo:.{digits}f}, {hi:.{digits}f}]"
    floor = stat.get("floor")
    if floor is not None:
        ratio = f", {stat['mean'] / floor:.0f}x" if floor > 0 else ""
        text += f"  floor {floor:.{digits}f}{ratio}"
    return text


def _others(m: dict, total: int | None = None) -> str:
    """One line of the secondary metrics (means; modes as covered/total)."""
    names = [
        ("kl_reverse", "rKL"),
        ("js", "JS"),
        ("tv", "TV"),
        ("hellinger", "H"),
        ("mmd", "MMD²"),
        ("kl_compat", "KL16"),
    ]
    parts = [
        f"{label} {m[k]['mean']:.4f}" for k, label in names if m[k]["mean"] is not None
    ]
    if m["modes"]["mean"] is not None:
        parts.append(f"modes {m['modes']['mean']:.3g}/{total}")
        parts.append(f"far {m['far']['mean']:.4f}")
    return "  ".join(parts)


def _mode(p: dict) -> str:
    if p["encoding"] != "binned":
        return "continuous"
    return f"binned: {p['bins']} bins per axis, decode={p['decode']}"


def _summary(p: dict, out: Path) -> str:
    m, t = p["metrics"], p["timing"]
    bad = [s for s in p["seed_status"] if s["status"] != "ok"]
    lines = [
        f"genbench  {p['model']} on {p['target']}  ({_mode(p)})",
        f"  budget   {p['budget']['params']} ({p['budget']['scope']})"
        f" -> H={p['hidden']}"
        f"  ({p['n_params']} params; total {p['n_params_total']},"
        f" sampler {p['n_params_sampler']})",
        f"  trained  {len(p['seeds'])} seed(s) x {p['steps']} steps, batch "
        f"{p['batch_size']}; scored on {p['eval_samples']} samples per seed"
        f" (curves: {p['snapshot_eval_samples']})",
        f"  KL(P||Q) {_fmt(m['kl'])}   (per seed: "
        + ", ".join(
            "—" if v is None else f"{v:.4f}"
            for v in artifacts_clean(m["kl"]["per_seed"])
        )
        + ")",
        f"  W1       {_fmt(m['w1'])}",
        f"  others   {_others(m, p.get('modes_total'))}",
        f"  time     {t['wall_seconds']:.1f} s  (compile {t['compile_seconds']:.1f}, "
        f"train {t['train_seconds']:.1f}, eval {t['eval_seconds']:.1f})",
    ]
    diverged = [s for s in bad if s["status"] == "diverged"]
    if diverged:
        lines.append(
            "  diverged "
            + ", ".join(f"seed {s['seed']} at step {s['step']}" for s in diverged)
        )
    runaway = [s for s in bad if s["status"] == "runaway"]
    if runaway:
        lines.append("  runaway  " + ", ".join(_runaway(s) for s in runaway))
    if p["status"] == "interrupted":
        lines.append(
            f"  INTERRUPTED after {p['steps_done']} of {p['steps']} steps: "
            "metrics are from the last completed snapshot"
        )
    lines.append(f"  output   {out}")
    return "\n".join(lines)


def _runaway(s: dict) -> str:
    """`seed 1 at step 200 (lost 0.998)`, or the parameter that ran away."""
    from .train import PARAM_LIMIT

    if s.get("max_param") is not None:
        why = f"max |param| {s['max_param']:.2g} > {PARAM_LIMIT:.0e}"
    else:
        why = f"lost {s['lost']:.3f} of its samples"
    return f"seed {s['seed']} at step {s['step']} ({why}; metrics null)"


def artifacts_clean(values):
    import math

    return [None if not math.isfinite(v) else float(v) for v in values]


def cli() -> int:
    """Console entry: run Hydra, then exit non-zero if any job failed.

    Exit codes: 0 all good (some seeds may have diverged), 1 a job failed (bad
    configuration, every seed diverged or ran away), 130 interrupted (SIGINT/SIGTERM).
    """
    try:
        with _stop_on_signal():
            main()
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
        print("genbench: interrupted", file=sys.stderr)
        return 130
    if _SKIPPED:
        print(
            f"genbench: {len(_SKIPPED)} job(s) skipped: already complete with "
            "the same configuration and seeds",
            file=sys.stderr,
        )
    if any(f.startswith("interrupted") for f in _FAILED):
        if _MULTIRUN:
            print(
                "genbench: sweep interrupted; re-run the same command with "
                "hydra.sweep.dir=<this sweep's folder> to finish it (complete "
                "jobs are skipped)",
                file=sys.stderr,
            )
        return 130
    from .report import SWEEP_FAILURES
    from .tune import DIVERGED_TRIALS

    # In a sweep the summary callback counts failures from the job folders, which
    # also covers launchers that run jobs in other processes. A tuning trial whose
    # seeds diverged is a search result (told to Optuna as FAIL), not a failure.
    own = [f for f in _FAILED if f.partition(": ")[2] not in DIVERGED_TRIALS]
    failed = list(SWEEP_FAILURES) or own
    if failed and (_MULTIRUN or SWEEP_FAILURES):
        print(f"genbench: {len(failed)} job(s) failed:", file=sys.stderr)
        for failure in failed:
            print(f"  {failure}", file=sys.stderr)
        print(
            "  re-run the same command with hydra.sweep.dir=<this sweep's folder>: "
            "complete jobs are skipped, the others run again",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(cli())
