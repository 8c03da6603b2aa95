"""Tests for research/rnn/cells.py: each cell's step against a numpy transcription of its paper's
equations (float32 vs float64; observed differences ~1e-7, tolerance 1e-5), the two GRU reset
forms told apart, and the cell's contract (gate counts, carries, refusals)."""

import jax
import numpy as np
import pytest

from research.rnn.cells import KINDS, Cell, project, step

B, D_IN, H = 3, 4, 5


def _params(cell, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in cell.param_shapes(D_IN).items()}


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _numpy_step(kind, p, carry, x):
    """The textbook equations, gate by gate, in float64. Returns (carry, y)."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    h = carry[0] if kind == "lstm" else carry

    def gate(k, on_h=None):  # W_ik x + b_ik + W_hk h' + b_hk
        h_in = h if on_h is None else on_h
        return x @ p["wi"][:, k] + p["bi"][k] + h_in @ p["wh"][:, k] + p["bh"][k]

    if kind in ("elman_tanh", "elman_relu"):
        pre = gate(0)
        h = np.tanh(pre) if kind == "elman_tanh" else np.maximum(pre, 0)
        return h, h
    if kind == "lstm":
        c = carry[1]
        i, f, g, o = _sigmoid(gate(0)), _sigmoid(gate(1)), np.tanh(gate(2)), _sigmoid(gate(3))
        c = f * c + i * g
        h = o * np.tanh(c)
        return (h, c), h
    r, z = _sigmoid(gate(0)), _sigmoid(gate(1))
    if kind == "gru_reset_before":  # Cho et al. (2014), eq. 8: h~ = tanh(W x + U (r * h))
        n = np.tanh(gate(2, on_h=r * h))
    else:  # PyTorch / cuDNN: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        n = np.tanh(x @ p["wi"][:, 2] + p["bi"][2] + r * (h @ p["wh"][:, 2] + p["bh"][2]))
    h = (1 - z) * n + z * h
    return h, h


@pytest.mark.parametrize("kind", KINDS)
def test_step_matches_the_papers_equations(kind):
    """Catches a wrong gate order, a missing bias, a swapped activation, tanh(c) left out of the
    LSTM's output, or the GRU's update gate weighting the wrong side ((1 - z) h + z n)."""
    cell = Cell(kind, H)
    p = _params(cell)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, D_IN)).astype(np.float32)
    carry = rng.normal(size=(B, H)).astype(np.float32)
    if kind == "lstm":
        carry = (carry, rng.normal(size=(B, H)).astype(np.float32))
    got_carry, got_y = step(cell, p, carry, x)
    want_carry, want_y = _numpy_step(kind, p, carry, x)
    np.testing.assert_allclose(got_y, want_y, atol=1e-5)
    for got, want in zip(jax.tree.leaves(got_carry), jax.tree.leaves(want_carry), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_two_gru_forms_differ():
    """Catches `gru_reset_before` silently running PyTorch's reset-after form (or vice versa)."""
    p = _params(Cell("gru", H))
    rng = np.random.default_rng(2)
    x, h = rng.normal(size=(B, D_IN)), rng.normal(size=(B, H))
    after, _ = step(Cell("gru", H), p, h.astype(np.float32), x.astype(np.float32))
    before, _ = step(Cell("gru_reset_before", H), p, h.astype(np.float32), x.astype(np.float32))
    assert np.abs(np.asarray(after) - np.asarray(before)).max() > 1e-2


def test_project_is_the_input_side_of_every_gate():
    """Catches the hoisted projection contracting the wrong axis or dropping the input bias."""
    p = _params(Cell("lstm", H))
    x = np.random.default_rng(3).normal(size=(2, 7, D_IN)).astype(np.float32)  # any leading dims
    want = np.einsum("bti,igh->btgh", x, p["wi"]) + p["bi"]
    np.testing.assert_allclose(project(p, x), want, atol=1e-5)


@pytest.mark.parametrize("kind, gates", [("elman_tanh", 1), ("lstm", 4), ("gru", 3)])
def test_shapes_and_carries(kind, gates):
    """Catches a gate count that disagrees with PyTorch's (the converters depend on it)."""
    cell = Cell(kind, H)
    assert cell.num_gates == gates
    assert cell.param_shapes(D_IN) == {
        "wi": (D_IN, gates, H), "wh": (H, gates, H), "bi": (gates, H), "bh": (gates, H),
    }  # fmt: skip
    carry = cell.zero_carry(B)
    assert isinstance(carry, tuple) == (kind == "lstm")
    assert all(leaf.shape == (B, H) and not leaf.any() for leaf in jax.tree.leaves(carry))


def test_refuses_unknown_kinds_and_empty_widths():
    with pytest.raises(ValueError, match="Unknown cell 'rnn'; choose one of elman_tanh"):
        Cell("rnn", H)
    with pytest.raises(ValueError, match="hidden_size must be >= 1, got 0"):
        Cell("gru", 0)
