"""Reuse a trained run: `load_run(folder)` reads what a run wrote and draws new
samples from its trained models.

    run = genbench.load_run("outputs/2026-12-01/10-00-00_rbm_1d_trimodal")
    run.family.name, run.config["train"]["steps"], run.metrics["kl"]["mean"]
    x = run.sample(10_000, seed=0)          # (10000, dim), in data units

Only `metrics.json` (the resolved config, the hidden width, the seeds) and the
numpy archives `params/seed_<i>.npz` are read: no pickles, no Equinox files. The
objects (target, encoding, family) are rebuilt from the config by the same code
as a run (`config.build_run`), so this genbench's version must still accept it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TrainedRun", "load_run"]


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedRun:
    """A trained run, loaded by `load_run`.

    - `path`: the run's folder
    - `config`: the resolved config (nested dict, as in metrics.json)
    - `record`: the whole of metrics.json; `metrics`: its per-metric statistics
    - `spec`: the run's objects (`config.RunSpec`): `target`, `family`,
      `encoding`, `settings`, `hidden`
    - `params`: seed number -> the trained networks of that seed (an
      `eqx.Module`, the family's `params(state)`), loaded from its `.npz`
    """

    path: Path
    config: dict[str, Any]
    record: dict[str, Any]
    spec: Any
    params: dict[int, Any]
    # n -> the compiled sampler of n samples (one compilation serves every seed)
    _draws: dict[int, Any] = dataclasses.field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"TrainedRun({str(self.path)!r}: {s.family.name} on {s.target.name}, "
            f"{s.encoding.mode}, H={s.hidden}, seeds {self.seeds})"
        )

    @property
    def family(self):
        """The model family (`models.base.AbstractFamily`); `family.name`."""
        return self.spec.family

    @property
    def target(self):
        return self.spec.target

    @property
    def encoding(self):
        return self.spec.encoding

    @property
    def seeds(self) -> list[int]:
        return list(self.params)

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json's `metrics`: name -> mean, std, ci95, per_seed, floor."""
        return self.record["metrics"]

    def state(self, seed: int | None = None):
        """A training state of `seed` (default: the first) holding its trained
        networks; what the family's `sample` takes. Its optimiser state is a
        fresh one (not saved by a run): fit for sampling, not for resuming."""
        import equinox as eqx
        import jax.random as jr

        nets = self.params[self._seed(seed)]
        s = self.spec
        fresh = s.family.init(jr.key(0), s.encoding.model_dim, s.hidden)
        return eqx.tree_at(s.family.params, fresh, nets)

    def sample(self, n: int, seed: int | None = None, key: Any = 0) -> np.ndarray:
        """`n` new samples, shape `(n, dim)`, in data units, from the trained model
        of `seed` (a seed number of the run; default: its first), decoded as the
        run decoded its own (`bins.decode`; bit vectors: 0/1 states).

        `key`: an int or a JAX PRNG key; the same key gives the same samples.
        An RBM's samples come from `ceil(n / model.eval_per_chain)` Markov
        chains, as in the run: correlated within a chain. A seed that diverged
        in training gives non-finite samples. Raises
        KeyError for a seed the run did not train.
        """
        import jax
        import jax.random as jr

        from .train import Programs

        if isinstance(key, int):
            key = jr.key(key)
        state = self.state(seed)
        n = int(n)
        if n not in self._draws:
            s = self.spec
            programs = Programs(s.family, s.target, s.encoding, s.settings, s.hidden)
            self._draws[n] = jax.jit(lambda st, k: programs.samples(st, k, n))
        return np.asarray(self._draws[n](state, key))

    def _seed(self, seed: int | None) -> int:
        if seed is None:
            return self.seeds[0]
        if seed not in self.params:
            raise KeyError(
                f"seed={seed} is not a seed of this run; it has {self.seeds}"
            )
        return seed


def load_run(path: str | Path) -> TrainedRun:
    """Load the run in folder `path` (a single run's output folder or one job of a
    sweep): its config, metrics and the trained networks of every seed.

    Raises FileNotFoundError if `path` holds no metrics.json or a seed's
    `params/seed_<i>.npz`; ValueError if the run did not train (a sweep job
    refused or failed: its metrics.json says why), if its config is no longer
    accepted, or if a parameter file does not fit the networks the config builds.
    """
    from omegaconf import OmegaConf

    from .config import build_run

    folder = Path(path)
    file = folder / "metrics.json"
    if not file.is_file():
        raise FileNotFoundError(f"{folder} is not a genbench run: no metrics.json")
    record = json.loads(file.read_text())
    if "metrics" not in record:
        raise ValueError(
            f"{folder} did not train ({record.get('status')}: {record.get('error')})"
        )
    config = record["config"]
    spec = build_run(OmegaConf.create(config))
    # the width the run trained at (the solver of this version may differ)
    spec = dataclasses.replace(spec, hidden=int(record["hidden"]))
    params = {
        int(seed): _load_params(folder / "params" / f"seed_{seed}.npz", spec)
        for seed in record["seeds"]
    }
    return TrainedRun(folder, config, record, spec, params)


def _load_params(file: Path, spec) -> Any:
    """The networks of one seed: the family's networks built at the run's width,
    their arrays replaced by those of `file` (named as `artifacts.save_params`
    names them). ValueError if names or shapes differ."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    from .artifacts import leaf_name

    family, dim = spec.family, spec.encoding.model_dim
    state = eqx.filter_eval_shape(family.init, jr.key(0), dim, spec.hidden)
    like = family.params(state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
    names = [leaf_name(p) for p, _ in leaves]
    with np.load(file, allow_pickle=False) as saved:
        if sorted(saved.files) != sorted(names):
            raise ValueError(
                f"{file} holds {sorted(saved.files)}; the config builds {sorted(names)}"
            )
        arrays = []
        for name, (_, leaf) in zip(names, leaves, strict=True):
            array = saved[name]
            if array.shape != leaf.shape:
                raise ValueError(
                    f"{file}: {name} has shape {array.shape}; the config builds "
                    f"{leaf.shape}"
                )
            arrays.append(jnp.asarray(array, dtype=leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, arrays)
