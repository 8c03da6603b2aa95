"""Tests for research/rnn/scan.py: the scan against a Python loop of `cells.step` (with lengths:
carries frozen past each length, outputs zero there), `reverse_padded` by hand, padded batches
against each sequence run alone, layout and unroll invariances, dropout placement, refusals.
Observed differences are ~1e-7 in float32 (tolerance 1e-5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.rnn.cells import KINDS, Cell, step
from research.rnn.scan import reverse_padded, run

B, T, D_IN, H = 3, 6, 4, 5
LENGTHS = np.array([T, 2, 4])


def _params(cell, num_layers=1, bidirectional=False, seed=0):
    rng = np.random.default_rng(seed)
    layers, size = [], D_IN
    for _ in range(num_layers):
        layers.append(
            {
                d: {
                    k: (0.5 * rng.normal(size=s)).astype(np.float32)
                    for k, s in cell.param_shapes(size).items()
                }
                for d in (("fwd", "bwd") if bidirectional else ("fwd",))
            }
        )
        size = H * (2 if bidirectional else 1)
    return layers


def _x(seed=1, steps=T):
    return np.random.default_rng(seed).normal(size=(B, steps, D_IN)).astype(np.float32)


def _close(a, b, atol=1e-5):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=atol)


@pytest.mark.parametrize("kind", KINDS)
def test_scan_equals_a_python_loop_of_step(kind):
    """Catches the scan reordering time, the hoisted projection differing from `step`, a carry
    that keeps changing past a sequence's length, or padding outputs that are not zero."""
    cell = Cell(kind, H)
    params = _params(cell)
    x = _x()
    outputs, (final,) = run(cell, params, x, lengths=LENGTHS)
    carry = cell.zero_carry(B)
    for t in range(T):
        new, y = step(cell, params[0]["fwd"], carry, x[:, t])
        alive = t < LENGTHS
        carry = jax.tree.map(lambda n, o, a=alive: np.where(a[:, None], n, o), new, carry)
        _close(outputs[:, t], np.where(alive[:, None], y, 0))
        assert not np.asarray(outputs)[~alive, t].any()  # exactly zero past the length
    _close(final, carry)


def test_reverse_padded_by_hand():
    """Catches the padding being reversed into the front (a plain flip)."""
    x = jnp.array([[1, 2, 3, 4], [1, 2, 0, 0], [1, 0, 0, 0]])
    got = reverse_padded(x, jnp.array([4, 2, 1]))
    np.testing.assert_array_equal(got, [[4, 3, 2, 1], [2, 1, 0, 0], [1, 0, 0, 0]])
    features = jnp.arange(2 * 3 * 2).reshape(2, 3, 2)  # trailing feature axes travel whole
    np.testing.assert_array_equal(
        reverse_padded(features, jnp.array([2, 3]))[0], features[0, [1, 0, 2]]
    )


@pytest.mark.parametrize("kind", ["elman_tanh", "lstm", "gru"])
def test_padded_batch_equals_each_sequence_run_alone(kind):
    """Catches the backward direction starting at T (reading padding first) instead of the last
    real step, and a final state read at T instead of at the length, in both directions."""
    cell = Cell(kind, H)
    params = _params(cell, num_layers=2, bidirectional=True)
    x = _x()
    outputs, finals = run(cell, params, x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS):
        alone, alone_finals = run(cell, params, x[b : b + 1, :length])
        _close(outputs[b : b + 1, :length], alone)
        _close([jax.tree.map(lambda h, b=b: h[b : b + 1], f) for f in finals], alone_finals)
        assert not np.asarray(outputs)[b, length:].any()


def test_backward_direction_is_the_forward_scan_of_the_reversed_sequence():
    """Catches the backward outputs left in reversed time (not flipped back to align with x)."""
    cell = Cell("gru", H)
    params = _params(cell, bidirectional=True)
    x = _x()
    outputs, (_, backward_final) = run(cell, params, x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS):
        trimmed = x[b : b + 1, :length][:, ::-1]
        ys, (h,) = run(cell, [{"fwd": params[0]["bwd"]}], np.ascontiguousarray(trimmed))
        _close(outputs[b : b + 1, :length, H:], np.asarray(ys)[:, ::-1])
        _close(backward_final[b : b + 1], h)


def test_initial_carry_is_used_per_layer_and_direction():
    """Catches initial carries ignored or assigned in the wrong layer/direction order."""
    cell = Cell("lstm", H)
    params = _params(cell, num_layers=2, bidirectional=True)
    x = _x()
    rng = np.random.default_rng(4)
    carries = [tuple(rng.normal(size=(2, B, H)).astype(np.float32)) for _ in range(4)]
    _, finals = run(cell, params, x, initial_carry=carries)
    for index, (layer, direction) in enumerate([(0, "fwd"), (0, "bwd"), (1, "fwd"), (1, "bwd")]):
        layer_x, carry = _layer_input(cell, params, x, carries, layer, direction)
        _, (alone,) = run(cell, [{"fwd": params[layer][direction]}], layer_x, initial_carry=carry)
        _close(finals[index], alone)


def _layer_input(cell, params, x, carries, layer, direction):
    """The input and carry that (layer, direction) sees, as a one-layer forward run."""
    if layer == 1:
        x, _ = run(cell, params[:1], x, initial_carry=carries[:2])
        x = np.asarray(x)
    if direction == "bwd":
        x = np.ascontiguousarray(x[:, ::-1])
    return x, [carries[2 * layer + (direction == "bwd")]]


@pytest.mark.parametrize("kind", ["elman_relu", "lstm"])
def test_time_major_equals_batch_major_transposed(kind):
    """Catches time_major scanning over the batch axis or returning the wrong layout. (Not
    bit-exact: the batch-major input is transposed before the projection's matmul, which may then
    round differently; observed <= 3e-8.)"""
    cell = Cell(kind, H)
    params = _params(cell, num_layers=2, bidirectional=True)
    x = _x()
    batch_major, finals = run(cell, params, x, lengths=LENGTHS)
    time_major, finals_tm = run(
        cell, params, x.transpose(1, 0, 2), lengths=LENGTHS, time_major=True
    )
    _close(np.asarray(time_major).transpose(1, 0, 2), batch_major, atol=1e-6)
    _close(finals_tm, finals, atol=1e-6)


def test_unroll_does_not_change_the_result():
    """Catches an unrolled scan dropping the remainder steps (T=6 is not a multiple of 4)."""
    cell = Cell("gru", H)
    params = _params(cell, num_layers=2, bidirectional=True)
    x = _x()
    one = run(cell, params, x, lengths=LENGTHS, unroll=1)
    four = run(cell, params, x, lengths=LENGTHS, unroll=4)
    _close(four, one, atol=1e-6)


def test_dropout_sits_between_layers_only_with_an_rng():
    """Catches dropout applied without an rng (outside training), after the last layer (zeros in
    the outputs), or not at all between layers."""
    cell = Cell("elman_tanh", H)
    x = _x()
    rng = jax.random.key(0)
    for layers in (1, 2):
        params = _params(cell, num_layers=layers)
        plain, _ = run(cell, params, x)
        no_rng, _ = run(cell, params, x, dropout_rate=0.5)
        _close(no_rng, plain, atol=0)
        dropped, _ = run(cell, params, x, dropout_rate=0.5, dropout_rng=rng)
        assert np.asarray(dropped).all()  # no dropout mask on the last layer's outputs
        if layers == 1:
            _close(dropped, plain, atol=0)
        else:
            assert np.abs(np.asarray(dropped) - np.asarray(plain)).max() > 1e-2
            again, _ = run(cell, params, x, dropout_rate=0.5, dropout_rng=rng)
            _close(again, dropped, atol=0)  # the rng alone decides the mask


def test_refuses_bad_inputs():
    cell = Cell("lstm", H)
    params = _params(cell, num_layers=2)
    x = _x()
    with pytest.raises(ValueError, match=r"x must be \[B,T,I\], got shape \(3, 4\)"):
        run(cell, params, x[:, 0])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 6\].*\[0, 6\]"):
        run(cell, params, x, lengths=np.array([6, 0, 2]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 6\].*\[2, 7\]"):
        run(cell, params, x, lengths=np.array([7, 2, 2]))
    with pytest.raises(ValueError, match=r"lengths must be int\[3\], got float32\[3\]"):
        run(cell, params, x, lengths=np.array([1.0, 2.0, 3.0], np.float32))
    zero = cell.zero_carry(B)
    with pytest.raises(ValueError, match="initial_carry has 1 entries; expected .* 2"):
        run(cell, params, x, initial_carry=[zero])
    with pytest.raises(ValueError, match=r"initial carry of shape \(3, 4\) does not match"):
        run(cell, params, x, initial_carry=[zero, (zero[0], zero[1][:, :4])])


def test_lstm_carry_must_be_a_pair_and_any_pair_is_taken():
    """Catches an LSTM given a bare h being unpacked along its batch axis (with B == 2 it failed
    deep inside an einsum), and a list [h, c] or a float64 carry breaking the scan's carry types."""
    cell = Cell("lstm", H)
    params = _params(cell)
    x = _x()[:2]
    h = np.random.default_rng(5).normal(size=(2, H))
    with pytest.raises(ValueError, match=r"lstm cell must be a pair \(h, c\).*got 1 array"):
        run(cell, params, x, initial_carry=[h.astype(np.float32)])
    with pytest.raises(ValueError, match="gru cell must be one array h.*got 2 array"):
        run(Cell("gru", H), _params(Cell("gru", H)), x, initial_carry=[(h, h)])
    as_tuple = run(
        cell, params, x, initial_carry=[(h.astype(np.float32), 0 * h.astype(np.float32))]
    )
    as_list = run(cell, params, x, initial_carry=[[h, 0 * h]])  # float64, a list
    _close(as_list, as_tuple, atol=0)
