"""The evaluation's numbers against the implementation before issue 20's
changes, and the integer-key sort it now uses.

`OLD_VALUES` were printed by the code at commit f57bed2 (before the reference
and the floor left the per-snapshot program and W1 sorted integer keys) for
the runs of `CASES` (same overrides, XLA optimisation level 0 as in
conftest.py): each real seed's metrics at the last snapshot (2 000 samples per
seed) and in the final evaluation (5 000), and the floor.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import jaxprs_in_params

from genbench.config import build_run
from genbench.metrics import METRICS, N_PROJECTIONS, sort_floats
from genbench.train import Programs, train

from .conftest import JAX_CACHE, compose_cfg

NAN = float("nan")
CASES = {
    "gan_2d_gmm": ["model=gan", "target=2d_gmm"],
    "rbm_1d_trimodal_bins20": ["model=rbm", "target=1d_trimodal", "bins.n=20"],
    "vae_bars_stripes": ["model=vae", "target=binary_bars_stripes"],
}
COMMON = [
    "train.steps=20",
    "train.seeds=2",
    "train.snapshot_percent=50",
    "train.eval_samples=5000",
    "train.snapshot_eval_samples=2000",
    "train.progress=false",
    f"jax_cache={JAX_CACHE}",
]
OLD_VALUES = {
    "gan_2d_gmm": {
        "snapshot": {
            "kl": [15.5470257, 15.6404495],
            "kl_reverse": [3.39976597, 3.51580477],
            "js": [0.591953516, 0.597724915],
            "tv": [0.93385762, 0.937355995],
            "hellinger": [0.885971367, 0.891382039],
            "w1": [1.1602602, 1.16847825],
            "mmd": [0.101647139, 0.101424456],
            "kl_compat": [7.97233534, 8.21704102],
            "modes": [0, 0],
            "far": [0, 0.00200000009],
            "lost": [0, -1.1920929e-07],
            "invalid": [0, 0],
            "precision": [NAN, NAN],
            "coverage": [NAN, NAN],
        },
        "final": {
            "kl": [15.1255817, 15.4600983],
            "kl_reverse": [3.34981513, 3.41432309],
            "js": [0.58625263, 0.591977],
            "tv": [0.930153728, 0.933826625],
            "hellinger": [0.879980266, 0.885767221],
            "w1": [1.16231704, 1.16509008],
            "mmd": [0.104283571, 0.102326393],
            "kl_compat": [7.99806404, 8.21921444],
            "modes": [0, 0],
            "far": [0.00039999999, 0.00059999997],
            "lost": [2.38418579e-07, 1.78813934e-07],
            "invalid": [0, 0],
            "precision": [NAN, NAN],
            "coverage": [NAN, NAN],
        },
        "floor": {
            "kl": 0.367226183,
            "kl_reverse": 0.0831452459,
            "js": 0.0223102644,
            "tv": 0.134853244,
            "hellinger": 0.161593869,
            "w1": 0.0328416713,
            "mmd": -0.00047659874,
            "kl_compat": 0.0434999578,
            "modes": 4,
            "far": 0.00639999984,
            "lost": 0.0078009963,
            "invalid": 0,
            "precision": NAN,
            "coverage": NAN,
        },
    },
    "rbm_1d_trimodal_bins20": {
        "snapshot": {
            "kl": [0.0992212445, 0.214162409],
            "kl_reverse": [0.0960135609, 0.0708138421],
            "js": [0.0231562238, 0.0202352609],
            "tv": [0.172160029, 0.139283448],
            "hellinger": [0.153523847, 0.149116322],
            "w1": [0.288925052, 0.0717500001],
            "mmd": [0.00889372826, -0.0005235672],
            "kl_compat": [0.0838680714, 0.119820245],
            "modes": [3, 3],
            "far": [0, 0],
            "lost": [-1.1920929e-07, 5.96046448e-08],
            "invalid": [0, 0],
            "precision": [NAN, NAN],
            "coverage": [NAN, NAN],
        },
        "final": {
            "kl": [0.0409262516, 0.129224762],
            "kl_reverse": [0.0295171477, 0.0532380529],
            "js": [0.00793879759, 0.0147905871],
            "tv": [0.100964472, 0.10112951],
            "hellinger": [0.0907011256, 0.125987187],
            "w1": [0.0792399943, 0.0866599977],
            "mmd": [0.000254154205, 0.000967144966],
            "kl_compat": [0.0335593596, 0.0705500394],
            "modes": [3, 3],
            "far": [0.000199999995, 0],
            "lost": [5.96046448e-08, 5.96046448e-08],
            "invalid": [0, 0],
            "precision": [NAN, NAN],
            "coverage": [NAN, NAN],
        },
        "floor": {
            "kl": 0.00708497735,
            "kl_reverse": 0.00283932639,
            "js": 0.000749318744,
            "tv": 0.025225034,
            "hellinger": 0.0283150915,
            "w1": 0.0218399987,
            "mmd": 0.000186562538,
            "kl_compat": 0.00364973489,
            "modes": 3,
            "far": 0,
            "lost": 0,
            "invalid": 0,
            "precision": NAN,
            "coverage": NAN,
        },
    },
    "vae_bars_stripes": {
        "snapshot": {
            "kl": [3.79033852, 4.74067307],
            "kl_reverse": [16.4408474, 16.2989521],
            "js": [0.636129618, 0.626316786],
            "tv": [0.975499988, 0.969000101],
            "hellinger": [0.919974208, 0.914005101],
            "w1": [0.111726597, 0.111677855],
            "mmd": [0.00814640522, 0.00862371922],
            "kl_compat": [NAN, NAN],
            "modes": [NAN, NAN],
            "far": [NAN, NAN],
            "lost": [0, 0],
            "invalid": [0, 0],
            "precision": [0.0245000012, 0.0310000014],
            "coverage": [0.857142925, 0.785714328],
        },
        "final": {
            "kl": [3.63856769, 3.6557765],
            "kl_reverse": [16.2720814, 16.2705555],
            "js": [0.629948676, 0.629850745],
            "tv": [0.972200036, 0.972000003],
            "hellinger": [0.914045095, 0.914210916],
            "w1": [0.112697512, 0.111712091],
            "mmd": [0.00884032249, 0.00895881653],
            "kl_compat": [NAN, NAN],
            "modes": [NAN, NAN],
            "far": [NAN, NAN],
            "lost": [0, 0],
            "invalid": [0, 0],
            "precision": [0.0278000012, 0.0280000009],
            "coverage": [0.928571463, 0.857142925],
        },
        "floor": {
            "kl": 0.00169851864,
            "kl_reverse": 0.00169888278,
            "js": 0.000424565224,
            "tv": 0.0249999985,
            "hellinger": 0.0206063874,
            "w1": 0.00881550089,
            "mmd": 8.58306885e-06,
            "kl_compat": NAN,
            "modes": NAN,
            "far": NAN,
            "lost": 0,
            "invalid": 0,
            "precision": 1,
            "coverage": 1,
        },
    },
}


# The 2D run in the default suite (a full tiny run each: compile dominates).
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=() if c == "gan_2d_gmm" else pytest.mark.slow)
        for c in sorted(CASES)
    ],
)
def test_a_run_prints_the_numbers_of_the_previous_implementation(case):
    spec = build_run(compose_cfg(*CASES[case], *COMMON))
    r = train(spec.family, spec.target, spec.encoding, spec.settings, spec.hidden)
    rows = [row for row in r.history if row["step"] == 10]
    got = {
        "snapshot": {k: [row[k] for row in rows] for k in METRICS},
        "final": {k: list(r.final[k]) for k in METRICS},
        "floor": {k: r.floor[k] for k in METRICS},
    }
    for part, old in OLD_VALUES[case].items():
        for k in METRICS:  # float rounding only (here: the same bits)
            np.testing.assert_allclose(
                got[part][k], old[k], rtol=1e-6, atol=2e-7, err_msg=f"{part} {k}"
            )


def test_sort_floats_is_jnp_sort():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 500)).astype(np.float32) * 10.0 ** rng.integers(
        -30, 30, size=(3, 500)
    )
    x[0, :8] = [np.nan, -np.nan, np.inf, -np.inf, 0.0, 3.4e38, -3.4e38, 1.0]
    x[1, :4] = [1.0, 1.0, -2.0, -2.0]  # ties
    for axis in (0, 1, -1):
        want = np.asarray(jnp.sort(jnp.asarray(x), axis=axis))
        got = np.asarray(sort_floats(jnp.asarray(x), axis=axis))
        np.testing.assert_array_equal(got, want)  # NaN where NaN, same order


def test_the_snapshot_program_sorts_only_the_model_samples():
    # The reference's sorted projections and the floor are prepared once per
    # count, outside the program that runs at every snapshot.
    spec = build_run(compose_cfg("model=gan", "target=2d_gmm", *COMMON))
    s = spec.settings
    prog = Programs(spec.family, spec.target, spec.encoding, s, spec.hidden)
    states, _, _, k_eval = jax.eval_shape(prog.setup)
    n = s.snapshot_eval_samples
    ref = jax.eval_shape(lambda: prog.reference(n))
    jaxpr = jax.make_jaxpr(prog.evaluate, static_argnums=4)(states, k_eval, 0, ref, n)

    def sorted_sizes(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "sort":
                yield int(np.prod(eqn.invars[0].aval.shape))
            for sub in jaxprs_in_params(eqn.params):
                yield from sorted_sizes(sub)

    sizes = list(sorted_sizes(jaxpr.jaxpr))
    assert sum(sizes) == prog.n_pad * N_PROJECTIONS * n


@pytest.mark.slow
def test_the_evaluation_benchmark_reports_every_program(capsys):
    from scripts.bench import evaluation

    argv = ["--targets", "2d_gmm", "--samples", "3000", "--steps", "10"]
    assert evaluation.main([*argv, "--seeds", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("setup", "chunk", "reference (final", "evaluate (snapshot", "floor"):
        assert f"| {name}" in out
    assert "| evaluation, final (3000 samples/seed) |" in out
    assert "| metric alone: sliced W1 (sorts), final count |" in out
