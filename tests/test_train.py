"""genbench/train.py: seeds and devices, the chunk layout, diverging and runaway
seeds, the evaluation programs, memory checks, compiler options. That every
family x target trains to finite metrics: tests/test_contract.py."""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench import train as train_module
from genbench.config import build_run
from genbench.models import GAN, RBM, VAE
from genbench.train import (
    EVAL_CHUNK_BYTES,
    MEMORY_SHARE,
    PARAM_LIMIT,
    MemoryBudgetError,
    Programs,
    TrainSettings,
    check_memory,
    compile_with,
    seed_layout,
    train,
)

from .conftest import (
    FAST,
    compose_cfg,
)


def test_seeds_are_independent_of_how_many_run_and_deterministic():
    cfg = compose_cfg("model=vae", *FAST)
    spec = build_run(cfg)
    a = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    b = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    np.testing.assert_array_equal(a.final["kl"], b.final["kl"])
    one = build_run(compose_cfg("model=vae", *FAST, "train.seeds=1"))
    c = train(one.family, one.target, one.encoding, one.settings, one.hidden)
    np.testing.assert_allclose(c.final["w1"][0], a.final["w1"][0], rtol=1e-5)
    assert a.final["kl"][0] != a.final["kl"][1]
    # seed 1 is the same stream whichever seed a run starts from
    second = build_run(compose_cfg("model=vae", *FAST, "train.seeds=1", "train.seed=1"))
    s = second.settings
    d = train(second.family, second.target, second.encoding, s, second.hidden)
    np.testing.assert_allclose(d.final["w1"][0], a.final["w1"][1], rtol=1e-5)


def test_seeds_split_across_devices_match_one_device_and_drop_the_padding():
    assert len(jax.devices()) >= 2, "genbench exposes one XLA device per core"
    assert seed_layout(3, None)[1] % seed_layout(3, None)[0] == 0
    assert seed_layout(3, 1) == (1, 3)
    assert seed_layout(1, None) == (1, 1)
    fast = [o for o in FAST if not o.startswith("train.seeds")]
    runs = {}
    for devices in ("1", "2"):
        spec = build_run(
            compose_cfg("model=vae", *fast, "train.seeds=3", f"train.devices={devices}")
        )
        s = spec.settings
        runs[devices] = train(spec.family, spec.target, spec.encoding, s, spec.hidden)
    one, two = runs["1"], runs["2"]
    assert one.timings["devices"] == 1 and two.timings["devices"] == 2
    # 3 seeds on 2 devices compute a 4th seed: it must not leak into the results.
    assert two.samples.shape == one.samples.shape == (3, 2000, 1)
    assert two.snapshot_hists.shape[1] == 3 and len(two.history) == 2 * 3
    assert jax.tree_util.tree_leaves(two.states)[0].shape[0] == 3
    assert two.diverged_step.shape == (3,)
    # The same seeds, whatever device they ran on (up to float reassociation).
    np.testing.assert_allclose(one.final["w1"], two.final["w1"], rtol=1e-4)


def test_block_layout_covers_each_chunk_with_few_masked_steps():
    def layout(steps, percent):
        return TrainSettings(steps=steps, snapshot_percent=percent).block_layout

    assert layout(20000, 5) == (20, 50)  # chunks of 1000: 20 blocks, none masked
    assert layout(200, 50) == (2, 50)
    assert layout(100, 40) == (1, 40)  # a chunk that fits in one block
    assert layout(67, 100) == (2, 34)  # 67 is prime: one masked step
    for steps in range(1, 400, 7):
        for percent in (3, 10, 50, 100):
            s = TrainSettings(steps=steps, snapshot_percent=percent)
            blocks, length = s.block_layout
            assert 0 <= blocks * length - s.chunk_len < blocks
            assert length <= 64


def _final_params(steps: int, percent: int):
    fast = [o for o in FAST if not o.startswith(("train.steps", "train.snapshot"))]
    spec = build_run(
        compose_cfg(
            "model=vae",
            *fast,
            f"train.steps={steps}",
            f"train.snapshot_percent={percent}",
        )
    )
    s = spec.settings
    result = train(spec.family, spec.target, spec.encoding, s, spec.hidden)
    assert np.all(result.diverged_step == -1)
    return jax.tree_util.tree_leaves(spec.family.params(result.states))


def test_steps_and_batches_do_not_depend_on_the_chunk_and_block_layout():
    """67 steps as 2 blocks of 34 (one masked step) and as 4 chunks of 17 (the
    last chunk masking one step) train the same 67 steps on the same batches;
    a 68th step changes the parameters, so a masked step that ran would show."""
    one_chunk = _final_params(67, 100)
    four_chunks = _final_params(67, 25)
    one_more = _final_params(68, 100)
    for a, b in zip(one_chunk, four_chunks, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    pairs = zip(one_chunk, one_more, strict=True)
    assert any(not np.allclose(a, c, rtol=1e-4) for a, c in pairs)


def test_final_evaluation_with_its_own_sample_count_uses_its_own_program():
    # the final program compiles in the background while the chunks train
    spec = build_run(compose_cfg("model=gan", *FAST, "train.eval_samples=3000"))
    s = spec.settings
    result = train(spec.family, spec.target, spec.encoding, s, spec.hidden)
    assert result.samples.shape == (s.seeds, 3000, 1)
    assert s.snapshot_eval_samples == 2000 and len(result.snapshot_steps) == 2
    assert np.all(np.isfinite(result.final["kl"]))
    assert 0 < result.floor["kl"] < 0.05  # true samples, scored like the model's


def test_family_compiler_options_are_known_to_this_xla_and_unknown_ones_fall_back():
    lowered = jax.jit(lambda x: jnp.exp(-x) * 2).lower(jnp.ones(40))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a renamed option would warn here
        tuned = compile_with(lowered, RBM().compiler_options)
        compile_with(lowered, GAN().compiler_options)
    assert RBM().compiler_options and GAN().compiler_options
    assert VAE().compiler_options == {}
    with pytest.warns(UserWarning, match="xla_cpu_no_such_option"):
        plain = compile_with(lowered, {"xla_cpu_no_such_option": "1"})
    x = jnp.linspace(0, 3, 40)
    np.testing.assert_allclose(tuned(x), 2 * np.exp(-np.asarray(x)), rtol=1e-6)
    np.testing.assert_allclose(plain(x), tuned(x), rtol=1e-6)


def test_the_gan_option_leaves_small_reductions_to_xla_itself():
    lowered = jax.jit(lambda x: jnp.sum(x, 1)).lower(jnp.ones((4, 128, 27)))
    assert "ynn" in lowered.compile().as_text()  # XLA's default: YNNPACK
    assert "ynn" not in compile_with(lowered, GAN().compiler_options).as_text()


@dataclasses.dataclass(frozen=True)
class UnknownOptionVAE(VAE):
    @property
    def compiler_options(self):
        return {"xla_cpu_no_such_option": "1"}


def test_the_trainer_compiles_with_the_family_options():
    spec = build_run(compose_cfg("model=vae", *FAST, "train.seeds=1"))
    family = UnknownOptionVAE(
        **{f.name: getattr(spec.family, f.name) for f in dataclasses.fields(VAE)}
    )
    with pytest.warns(UserWarning, match="xla_cpu_no_such_option"):
        result = train(family, spec.target, spec.encoding, spec.settings, spec.hidden)
    assert np.all(np.isfinite(result.final["kl"]))


class PoisonState(NamedTuple):
    inner: Any
    poisoned: jax.Array  # this seed's losses turn NaN after step 30
    count: jax.Array


@dataclasses.dataclass(frozen=True)
class PoisonedVAE(VAE):
    """A VAE whose poisoned seeds (chosen at init from the seed's key) blow up."""

    def init(self, key, data_dim, hidden):
        poisoned = jr.uniform(jr.fold_in(key, 7)) < 0.5
        return PoisonState(super().init(key, data_dim, hidden), poisoned, jnp.int32(0))

    def step(self, state, batch, key):
        inner, logs = super().step(state.inner, batch, key)
        bad = state.poisoned & (state.count >= 30)
        logs = {k: jnp.where(bad, jnp.nan, v) for k, v in logs.items()}
        return PoisonState(inner, state.poisoned, state.count + 1), logs

    def sample(self, state, key, n):
        return super().sample(state.inner, key, n)

    def params(self, state):
        return state.inner.nets


def test_a_diverging_seed_is_frozen_and_recorded_while_others_finish():
    spec = build_run(compose_cfg("model=vae", *FAST, "train.seeds=6"))
    fam = PoisonedVAE(
        **{
            f.name: getattr(spec.family, f.name)
            for f in dataclasses.fields(spec.family)
        }
    )
    result = train(fam, spec.target, spec.encoding, spec.settings, spec.hidden)
    poisoned = np.asarray(result.states.poisoned)
    assert poisoned.any() and not poisoned.all()
    np.testing.assert_array_equal(result.diverged_step[poisoned], 30)
    assert np.all(result.diverged_step[~poisoned] == -1)
    for i, failure in enumerate(result.failures):
        assert failure == ({"status": "diverged", "step": 30} if poisoned[i] else None)
    assert np.all(np.isnan(result.final["kl"][poisoned]))
    assert np.all(np.isfinite(result.final["kl"][~poisoned]))
    # The frozen state is the last finite one: its samples are still finite.
    assert np.all(np.isfinite(result.samples))


def test_a_run_where_every_seed_diverges_records_it():
    # lr 1e30: the generator's loss, computed with the just-updated
    # discriminator, is NaN at the first step
    spec = build_run(
        compose_cfg("model=gan", *FAST, "model.lr=1e30", "model.schedule=constant")
    )
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    assert np.all(result.diverged_step >= 0)
    assert np.all(np.isnan(result.final["kl"]))
    assert all(failure["status"] == "diverged" for failure in result.failures)


def test_a_run_whose_parameters_run_away_records_it():
    # lr 1e12: finite parameters of about 1e12 after the first step, far beyond
    # PARAM_LIMIT, and finite losses; before, such a run ended `ok`.
    spec = build_run(
        compose_cfg("model=gan", *FAST, "model.lr=1e12", "model.schedule=constant")
    )
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    assert np.all(result.diverged_step == 0)
    assert np.all(np.isnan(result.final["kl"]))
    for failure in result.failures:
        assert failure["status"] == "runaway" and failure["step"] == 0
        assert failure["max_param"] > PARAM_LIMIT
    assert all(row["runaway"] == 1 and row["diverged"] == 0 for row in result.history)


@dataclasses.dataclass(frozen=True)
class StrayVAE(VAE):
    """A VAE whose marked seeds (chosen at init) draw samples 100 sd beyond the
    range: finite, bounded parameters, samples all lost."""

    def init(self, key, data_dim, hidden):
        stray = jr.uniform(jr.fold_in(key, 7)) < 0.5
        return PoisonState(super().init(key, data_dim, hidden), stray, jnp.int32(0))

    def step(self, state, batch, key):
        inner, logs = super().step(state.inner, batch, key)
        return PoisonState(inner, state.poisoned, state.count + 1), logs

    def sample(self, state, key, n):
        return super().sample(state.inner, key, n) + jnp.where(state.poisoned, 100, 0)

    def params(self, state):
        return state.inner.nets


def test_a_seed_whose_samples_all_leave_the_range_is_a_runaway():
    spec = build_run(compose_cfg("model=vae", *FAST, "train.seeds=6"))
    fields = dataclasses.fields(spec.family)
    fam = StrayVAE(**{f.name: getattr(spec.family, f.name) for f in fields})
    result = train(fam, spec.target, spec.encoding, spec.settings, spec.hidden)
    stray = np.asarray(result.states.poisoned)
    assert stray.any() and not stray.all()
    first = result.snapshot_steps[0]  # flagged at the first snapshot, then frozen
    for i, failure in enumerate(result.failures):
        if stray[i]:
            assert failure["status"] == "runaway" and failure["step"] == first
            assert failure["lost"] >= 0.99 and "max_param" not in failure
        else:
            assert failure is None
    np.testing.assert_array_equal(result.diverged_step[stray], first)
    assert np.all(np.isnan(result.final["kl"][stray]))
    assert np.all(np.isfinite(result.final["kl"][~stray]))


def test_every_history_row_is_scored_on_the_snapshot_count():
    spec = build_run(compose_cfg("model=vae", *FAST, "train.eval_samples=3000"))
    s = spec.settings
    result = train(spec.family, spec.target, spec.encoding, s, spec.hidden)
    assert {row["eval_samples"] for row in result.history} == {2000}
    assert result.eval_samples == 3000  # the final evaluation, reported apart
    # the last row is the last snapshot scored like the others, not the final
    prog = Programs(spec.family, spec.target, spec.encoding, s, spec.hidden)
    k_eval = jax.jit(prog.setup)()[3][: s.seeds]
    evaluate = jax.jit(prog.evaluate, static_argnums=4)
    ref = prog.reference(2000)
    rescored = evaluate(result.states, k_eval, s.steps, ref, 2000)[0]["kl"]
    last = [row["kl"] for row in result.history if row["step"] == s.steps]
    np.testing.assert_allclose(last, rescored, rtol=1e-5)
    assert not np.allclose(last, result.final["kl"], rtol=1e-3)
    ref = prog.reference(3000)
    final = evaluate(result.states, k_eval, s.steps, ref, 3000)[0]["kl"]
    np.testing.assert_allclose(result.final["kl"], final, rtol=1e-5)


def test_a_failing_final_evaluation_loses_no_training(tmp_path, monkeypatch):
    from genbench import run

    cfg = compose_cfg("model=vae", *FAST, "train.eval_samples=3000")
    spec = build_run(cfg)
    evaluate = Programs.evaluate

    def out_of_memory(self, states, k_eval, step, ref, n):
        if n == 3000:  # the final evaluation only
            raise MemoryError("RESOURCE_EXHAUSTED: out of memory (simulated)")
        return evaluate(self, states, k_eval, step, ref, n)

    monkeypatch.setattr(Programs, "evaluate", out_of_memory)
    with pytest.raises(MemoryError):
        run.run_spec(spec, cfg, tmp_path)
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 and rows[0].startswith("step,seed,eval_samples")
    for seed in (0, 1):
        assert (tmp_path / "params" / f"seed_{seed}.eqx").stat().st_size > 0
    assert not (tmp_path / "metrics.json").exists()


def test_evaluation_memory_is_bounded_by_sampling_in_chunks():
    # Budget 400k: H = 40 000. Unchunked, 50 000 samples would need an
    # activation of 50 000 x 40 000 floats (8 GB) per seed per layer.
    spec = build_run(
        compose_cfg(
            "model=vae", *FAST, "budget.params=400000", "train.eval_samples=50000"
        )
    )
    s = spec.settings
    prog = Programs(spec.family, spec.target, spec.encoding, s, spec.hidden)
    size = prog.eval_chunk(50_000)
    assert size * spec.hidden * 4 * prog.n_pad <= EVAL_CHUNK_BYTES
    need = prog.memory_estimate()
    assert need["evaluation"] < 2 * EVAL_CHUNK_BYTES + 50_000 * 4 * 64
    # XLA's own analysis of the compiled program agrees it is bounded
    states, _, _, k_eval = jax.eval_shape(prog.setup)
    ref = jax.eval_shape(lambda: prog.reference(50_000))
    compiled = (
        jax.jit(prog.evaluate, static_argnums=4)
        .lower(states, k_eval, 0, ref, 50_000)
        .compile()
    )
    assert compiled.memory_analysis().temp_size_in_bytes < 2 * EVAL_CHUNK_BYTES


def test_a_run_that_cannot_fit_is_refused_naming_the_largest_budget(monkeypatch):

    from genbench import run
    from genbench.budget import solve_hidden

    cfg = compose_cfg("model=vae", *FAST, "budget.params=200000")
    spec = build_run(cfg)
    args = (spec.family, spec.target, spec.encoding, spec.settings)
    need = check_memory(*args, spec.hidden, 200_000, available=1 << 50)
    peak = max(need.values())
    available = int(peak / MEMORY_SHARE / 3)  # a third of what it needs
    with pytest.raises(MemoryBudgetError) as err:
        check_memory(*args, spec.hidden, 200_000, available=available)
    (line,) = str(err.value).splitlines()
    assert line.startswith("budget.params=200000 needs about")
    largest = int(re.search(r"the largest budget that fits is about (\d+)", line)[1])
    assert 1000 < largest < 200_000

    def fits(budget):
        h = solve_hidden(spec.family, spec.encoding.model_dim, budget)
        need = Programs(*args, h).memory_estimate()
        return max(need.values()) <= MEMORY_SHARE * available

    assert fits(largest) and not fits(int(largest * 1.05))
    # the CLI's check (run.main calls it so, before compiling) reads the
    # machine's memory itself and refuses it: a config error, one line
    monkeypatch.setattr(train_module, "available_memory", lambda: (available, "RAM"))
    with pytest.raises(MemoryBudgetError, match="of RAM; the largest budget"):
        check_memory(
            spec.family, spec.target, spec.encoding, spec.settings, spec.hidden,
            cfg.budget.params, cfg.budget.scope,
        )  # fmt: skip
    assert issubclass(MemoryBudgetError, run.USER_ERRORS)


def test_hist_bins_sets_the_scoring_grid():
    spec = build_run(compose_cfg("model=vae", *FAST, "train.hist_bins=20"))
    result = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    assert result.snapshot_hists.shape[2:] == (20,)
