"""genbench/patterns.py: the scores of bit-vector targets over all 2^bits states,
against a dense enumeration in numpy and by hand."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genbench.targets import BarsAndStripes, Cardinality

from .conftest import state_bits

EPS = 1e-10


def _dense_metrics(x, target, n_first):
    """Every metric by enumerating all 2^bits states (numpy, independent of
    genbench.metrics): P and Q as dense tables plus an invalid cell."""
    d = target.dim
    finite = np.all(np.isfinite(x), axis=1)
    idx = (np.where(finite[:, None], x, 0) > 0.5).astype(np.int64) @ (
        2 ** np.arange(d - 1, -1, -1)
    )
    q = np.zeros(2**d + 1)
    np.add.at(q, np.where(finite, idx, 2**d), 1.0)
    q /= len(x)
    p = np.zeros(2**d + 1)
    p[target.pattern_index()] = target.pattern_probs()

    def kl(a, b, eps=EPS):
        on = a > 0
        return np.sum(a[on] * np.log(a[on] / (b[on] + eps)))

    m = (p + q) / 2
    valid = np.zeros(2**d + 1, bool)
    valid[target.pattern_index()] = True
    seen = np.unique(idx[:n_first][finite[:n_first] & valid[idx[:n_first]]])
    return {
        "kl": kl(p, q),
        "kl_reverse": kl(q, p),
        "js": 0.5 * kl(p, m, 0) + 0.5 * kl(q, m, 0),
        "tv": 0.5 * np.abs(p - q).sum(),
        "hellinger": np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)),
        "precision": q[:-1][valid[:-1]].sum(),
        "coverage": len(seen) / target.n_patterns,
        "invalid": q[-1],
    }


@pytest.mark.parametrize(
    "target",
    [
        BarsAndStripes("b", n=2, coverage_samples=40),
        BarsAndStripes("b", n=4, coverage_samples=300),
        Cardinality("c", n_bits=16, k=3, coverage_samples=500),
    ],
    ids=["bas2", "bas4", "card16"],
)
def test_pattern_metrics_equal_a_full_enumeration_of_the_states(target):
    """Samples of half valid patterns, half any states, some repeated, a few
    NaN rows: the on-device metrics equal the dense sums over all 2^bits states."""
    rng = np.random.default_rng(1)
    n = 1000
    d = target.dim
    valid = target.patterns_[rng.integers(0, target.n_patterns, n // 2)]
    other = state_bits(rng.integers(0, 2**d, n // 4), d)
    repeated = np.repeat(other[:5], 50, axis=0)  # states hit many times
    x = np.concatenate([valid, other, repeated]).astype(np.float32)[:n]
    x[rng.choice(n, 7, replace=False)] = np.nan
    ev = target.evaluator()
    ref = ev.reference(n)
    got = jax.jit(ev.score)(jnp.asarray(x), ref)
    want = _dense_metrics(x, target, target.coverage_samples)
    for name, value in want.items():
        np.testing.assert_allclose(float(got[name]), value, rtol=2e-5, atol=1e-6)
    assert got["hist"].shape == (target.n_patterns,)
    for name in ("kl_compat", "modes", "far"):
        assert np.isnan(float(got[name]))


def test_pattern_metrics_by_hand():
    """2 x 2 bars and stripes (6 patterns, 1/6 each), five samples: blank twice,
    the top stripe, one invalid image, one NaN row."""
    t = BarsAndStripes("b", n=2, coverage_samples=3)
    x = np.array(
        [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [np.nan] * 4],
        np.float32,
    )
    ev = t.evaluator()
    got = ev.score(jnp.asarray(x), ev.reference(5))
    assert float(got["precision"]) == pytest.approx(3 / 5)
    assert float(got["coverage"]) == pytest.approx(2 / 6)  # first 3: two patterns
    assert float(got["invalid"]) == pytest.approx(1 / 5)
    sixth = 1 / 6
    kl = sixth * np.log(sixth / 0.4) + sixth * np.log(sixth / 0.2)
    kl += 4 * sixth * np.log(sixth / EPS)
    assert float(got["kl"]) == pytest.approx(kl, rel=1e-5)
    rkl = 0.4 * np.log(0.4 / sixth) + 0.2 * np.log(0.2 / sixth)
    rkl += 2 * 0.2 * np.log(0.2 / EPS)  # the invalid image and the NaN row
    assert float(got["kl_reverse"]) == pytest.approx(rkl, rel=1e-5)
    tv = 0.5 * (abs(0.4 - sixth) + abs(0.2 - sixth) + 4 * sixth + 0.2 + 0.2)
    assert float(got["tv"]) == pytest.approx(tv, rel=1e-5)


def test_an_evaluation_smaller_than_coverage_samples_is_refused():
    t = BarsAndStripes("b", n=3, coverage_samples=1000)
    with pytest.raises(ValueError, match="target.coverage_samples=1000"):
        t.evaluator().reference(500)


def test_every_state_of_a_small_target_is_enumerated_once():
    """`_bits` (the tests' enumeration) lists each of the 2^d states once."""
    d = 4
    states = {tuple(r) for r in state_bits(np.arange(2**d), d).astype(int).tolist()}
    assert states == set(itertools.product((0, 1), repeat=d))
