"""Tests for research/rnn/scan_vjp.py: the hand-written backward pass against plain autodiff of the
plain scan (`run(..., custom_vjp=False)`) on random shapes, padded lengths, every supported cell,
both directions, several layers and given initial carries; and the structure that makes it fast
(one matmul per step in every loop). The forward values are checked against a Python loop in
scan_test.py (which runs this backward pass by default). Observed gradient differences are ~1e-7
(tolerance 1e-5)."""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from research.rnn.cells import Cell
from research.rnn.scan import run
from research.rnn.scan_vjp import SUPPORTED, fused_direction


def _case(kind, seed, num_layers, bidirectional):
    """Random shapes, params, inputs, lengths (at least one full and one short), carries."""
    rng = np.random.default_rng(seed)
    batch, steps, d_in, size = rng.integers(2, 5), rng.integers(3, 8), rng.integers(2, 5), 3
    cell = Cell(kind, int(size))
    directions = ("fwd", "bwd") if bidirectional else ("fwd",)
    params, width = [], d_in
    for _ in range(num_layers):
        params.append(
            {
                d: {
                    k: (0.6 * rng.normal(size=s)).astype(np.float32)
                    for k, s in cell.param_shapes(int(width)).items()
                }
                for d in directions
            }
        )
        width = size * len(directions)
    x = rng.normal(size=(batch, steps, d_in)).astype(np.float32)
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0], lengths[-1] = steps, 1
    n_leaves = 2 if kind == "lstm" else 1
    carries = [
        tuple(rng.normal(size=(batch, size)).astype(np.float32) for _ in range(n_leaves))
        for _ in range(num_layers * len(directions))
    ]
    carries = [c if kind == "lstm" else c[0] for c in carries]
    # Random cotangents on the outputs and on every final carry.
    out_weight = rng.normal(size=(batch, steps, size * len(directions))).astype(np.float32)
    carry_weights = jax.tree.map(lambda c: rng.normal(size=c.shape).astype(np.float32), carries)
    return cell, params, x, lengths, carries, out_weight, carry_weights


def _grads(cell, params, x, lengths, carries, out_weight, carry_weights, custom_vjp, unroll=1):
    def loss(params, x, carries):
        outputs, finals = run(
            cell, params, x, lengths=lengths, initial_carry=carries, custom_vjp=custom_vjp,
            unroll=unroll,
        )  # fmt: skip
        final_terms = jax.tree.map(lambda f, w: jnp.sum(f * w), finals, carry_weights)
        return jnp.sum(outputs * out_weight) + sum(jax.tree.leaves(final_terms))

    return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(params, x, carries)


@pytest.mark.parametrize("kind", SUPPORTED)
def test_gradients_equal_autodiff_of_the_plain_scan(kind):
    """Catches any slip in the hand-written derivative (a gate's slope, the forget path of dc, the
    GRU's r * (W_hn h + b_hn) term, dW_h paired with h_t instead of h_{t-1}), gradient leaking
    into padded steps, the initial carry's gradient, and the backward direction's reversal."""
    case = _case(kind, SUPPORTED.index(kind), num_layers=2, bidirectional=True)
    fused = _grads(*case, custom_vjp=True)
    plain = _grads(*case, custom_vjp=False)
    assert jax.tree.structure(fused) == jax.tree.structure(plain)
    for got, want in zip(jax.tree.leaves(fused), jax.tree.leaves(plain), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5, rtol=1e-5)


def test_unrolled_backward_equals_rolled():
    """Catches the reverse scan mishandling the remainder steps when T is not a multiple of
    `unroll` (T = 3..7 here, unroll 4)."""
    case = _case("lstm", 3, num_layers=1, bidirectional=True)
    one = _grads(*case, custom_vjp=True, unroll=1)
    four = _grads(*case, custom_vjp=True, unroll=4)
    for got, want in zip(jax.tree.leaves(four), jax.tree.leaves(one), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def _dots_per_loop(jaxpr):
    """The number of dot_general equations in the body of every scan (recursively)."""
    counts = []
    for eqn in jaxpr.eqns:
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            if eqn.primitive.name == "scan":
                counts.append(sum(e.primitive.name == "dot_general" for e in sub.eqns))
            counts.extend(_dots_per_loop(sub))
    return counts


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_backward_loop_holds_one_matmul_and_the_weight_gradient_is_outside(kind):
    """Catches a regression to autodiff's backward loop, which accumulates dW_h with a second
    (outer-product) matmul inside every step: with the custom VJP each loop, forward and
    backward, does only the recurrent matmul."""
    case = _case(kind, 0, num_layers=1, bidirectional=False)
    cell, params, x, lengths, carries, out_weight, weights = case
    args = (cell, params, x, lengths, carries, out_weight, weights)
    fused = jax.make_jaxpr(lambda p: _grads(*args[:1], p, *args[2:], custom_vjp=True))(params)
    plain = jax.make_jaxpr(lambda p: _grads(*args[:1], p, *args[2:], custom_vjp=False))(params)
    assert sorted(_dots_per_loop(fused.jaxpr)) == [1, 1]  # forward scan, backward scan
    assert max(_dots_per_loop(plain.jaxpr)) >= 2  # autodiff: dh and dW_h in the loop


def test_refuses_a_cell_without_a_hand_written_backward():
    """Catches `gru_reset_before` (whose reset gate scales h before a second matmul) being run
    with the reset-after derivative."""
    xw = jnp.zeros((2, 1, 3, 4))
    params = {"wh": jnp.zeros((4, 3, 4)), "bh": jnp.zeros((3, 4))}
    with pytest.raises(ValueError, match="gru_reset_before"):
        fused_direction("gru_reset_before", params, xw, jnp.ones((2, 1), bool), jnp.zeros((1, 4)))
