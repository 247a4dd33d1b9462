"""genbench/encoding.py: the model-space encodings (standardised values, one-hot
bins, bit vectors): round trips, decode modes, exact cell probabilities, and
what each encoding says about itself."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from genbench.encoding import AbstractEncoding, Bits, OneHotBins, make_encoding

from .conftest import make_target


@pytest.mark.parametrize("name", ["1d_trimodal", "2d_gmm", "1d_poisson", "1d_beta"])
@pytest.mark.parametrize("n", [2, 7, 20])
def test_every_cell_round_trips(name, n):
    enc = make_encoding(make_target(name), n)
    assert isinstance(enc, OneHotBins) and enc.model_dim == n * enc.dim
    rng = np.random.default_rng(0)
    for e in enc.edges:
        assert np.all(np.diff(e) > 0)
    # Points spread inside every cell of every axis (all cells, both edges' sides).
    u = rng.uniform(0.01, 0.99, size=(50, 1))
    per_axis = [(e[:-1] + u * np.diff(e)).ravel() for e in enc.edges]
    cells = [np.repeat(np.arange(n)[None, :], 50, axis=0).ravel()] * enc.dim
    x = jnp.asarray(np.stack(per_axis, axis=1), jnp.float32)
    onehot = enc.encode(x)
    assert np.all(np.asarray(onehot).reshape(-1, enc.dim, n).sum(-1) == 1)
    np.testing.assert_array_equal(np.asarray(enc.index(x)), np.stack(cells, axis=1))
    for kind in ("states", "logits"):  # decoded: the centre of its own cell
        back = np.asarray(enc.decode(onehot, jr.key(0), kind))
        np.testing.assert_allclose(
            back, enc.centres[np.arange(enc.dim), cells[0][:, None]]
        )


def test_out_of_range_goes_to_edge_cells_and_exact_probs_count_tails():
    target = make_target("2d_gmm")
    enc = make_encoding(target, 7)
    x = np.asarray(target.sample(jr.key(3), 400_000))
    idx = np.asarray(enc.index(jnp.asarray(x)))
    freq = np.zeros((7, 7))
    np.add.at(freq, (idx[:, 0], idx[:, 1]), 1.0 / len(x))
    p = enc.bin_probs(target)
    assert np.isclose(p.sum(), 1.0, atol=1e-9)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(x)) + 1e-4)


def test_decode_modes():
    enc = OneHotBins((np.linspace(0.0, 4.0, 5),), "soft")
    logits = jnp.log(jnp.array([[0.1, 0.2, 0.3, 0.4]]))
    centres = np.array([0.5, 1.5, 2.5, 3.5])
    assert np.isclose(
        float(enc.decode(logits, jr.key(0))[0, 0]),
        0.1 * 0.5 + 0.2 * 1.5 + 0.3 * 2.5 + 0.4 * 3.5,
        rtol=1e-6,
    )
    hard = OneHotBins(enc.edges, "hard")
    assert float(hard.decode(logits, jr.key(0))[0, 0]) == 3.5
    sample = OneHotBins(enc.edges, "sample")
    draws = np.asarray(sample.decode(jnp.repeat(logits, 100_000, 0), jr.key(1)))[:, 0]
    freq = np.array([np.mean(draws == c) for c in centres])
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=5e-3)
    states = jnp.array(
        [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
    )
    out = np.asarray(hard.decode(states, jr.key(0), "states"))[:, 0]
    assert out[0] == 1.5 and np.isnan(out[1]) and np.isnan(out[2])  # no valid category


def test_each_encoding_says_what_it_is_so_no_code_asks_its_class():
    # What trains, scores and draws a run asks the encoding: bit vectors
    # (Bernoulli units, patterns), samples on its own cells, the decode label.
    target = make_target("1d_trimodal")
    plain, binned = make_encoding(target, 0), make_encoding(target, 7, "soft")
    bits = make_encoding(make_target("binary_cardinality"), 0)
    assert not plain.bits and not plain.binned
    assert not binned.bits and binned.binned
    assert isinstance(bits, Bits) and bits.bits and not bits.binned
    assert plain.decode_label("values") is None and bits.decode_label("states") is None
    assert binned.decode_label("logits") == "soft"
    assert binned.decode_label("states") == "states (the model samples one-hot units)"
    assert not target.evaluator(plain).binned and target.evaluator(binned).binned
    assert target.evaluator(None).edges[0].tolist() == target.hist_edges()[0].tolist()

    class Incomplete(AbstractEncoding):  # a new encoding must answer them
        mode, model_dim = "other", 1

        def encode(self, x):
            return x

        def decode(self, y, key, kind="values"):
            return y

    with pytest.raises(TypeError, match="bits"):
        Incomplete()
