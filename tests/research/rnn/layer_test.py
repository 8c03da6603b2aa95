"""Tests for research/rnn/layer.py: the Linen holder's parameter tree (names, shapes, logical
axes, PyTorch's init range), the LSTM's forget_bias (in the init, not in the math), that `apply`
is `scan.run` on the same params, dropout only in training, and refusals."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from research.rnn.cells import Cell
from research.rnn.layer import RNN
from research.rnn.scan import run

B, T, D_IN, H = 2, 5, 3, 4


def _x():
    return np.random.default_rng(0).normal(size=(B, T, D_IN)).astype(np.float32)


def test_param_tree_shapes_axes_and_init_range():
    """Catches a renamed param (converters and LoRA select by path), a second layer sized for the
    input instead of [fwd, bwd] outputs, lost logical axes, or an init outside +-1/sqrt(H)."""
    variables = RNN("gru", H, num_layers=2, bidirectional=True).init(jax.random.key(0), _x())
    boxed = variables["params"]
    assert sorted(boxed) == ["layer_0_bwd", "layer_0_fwd", "layer_1_bwd", "layer_1_fwd"]
    params = nn.unbox(boxed)
    assert params["layer_0_fwd"]["wi"].shape == (D_IN, 3, H)
    assert params["layer_1_bwd"]["wi"].shape == (2 * H, 3, H)
    assert params["layer_1_bwd"]["wh"].shape == (H, 3, H)
    assert params["layer_1_bwd"]["bi"].shape == params["layer_1_bwd"]["bh"].shape == (3, H)
    axes = {name: box.names for name, box in boxed["layer_1_fwd"].items()}
    assert axes == {
        "wi": ("embed", None, "hidden"), "wh": ("embed", None, "hidden"),
        "bi": (None, "hidden"), "bh": (None, "hidden"),
    }  # fmt: skip
    leaves = np.concatenate([np.ravel(v) for v in jax.tree.leaves(params)])
    assert np.abs(leaves).max() <= 1 / H**0.5
    assert np.abs(leaves).max() > 0.9 / H**0.5  # uniform over the whole range, not a narrower one


def test_forget_bias_shifts_the_init_and_not_the_math():
    """Catches forget_bias added to the wrong gate or bias (bh, or every gate), added again in the
    forward pass, or applied to cells that have no forget gate."""
    x = _x()
    key = jax.random.key(0)
    plain = nn.unbox(RNN("lstm", H).init(key, x)["params"])["layer_0_fwd"]
    shifted = nn.unbox(RNN("lstm", H, forget_bias=1.0).init(key, x)["params"])["layer_0_fwd"]
    np.testing.assert_allclose(shifted["bi"][1], plain["bi"][1] + 1.0, atol=1e-6)
    for gate in (0, 2, 3):
        np.testing.assert_array_equal(shifted["bi"][gate], plain["bi"][gate])
    for name in ("wi", "wh", "bh"):
        np.testing.assert_array_equal(shifted[name], plain[name])
    params = {"layer_0_fwd": shifted}
    with_bias, _ = RNN("lstm", H, forget_bias=1.0).apply({"params": params}, x)
    without, _ = RNN("lstm", H).apply({"params": params}, x)
    np.testing.assert_array_equal(with_bias, without)
    gru = nn.unbox(RNN("gru", H, forget_bias=1.0).init(key, x)["params"])["layer_0_fwd"]
    np.testing.assert_array_equal(
        gru["bi"], nn.unbox(RNN("gru", H).init(key, x)["params"])["layer_0_fwd"]["bi"]
    )


def test_apply_is_scan_run_on_the_same_params():
    """Catches the module reordering layers or directions on the way to `run`."""
    model = RNN("lstm", H, num_layers=2, bidirectional=True)
    x = _x()
    lengths = np.array([T, 3])
    params = nn.unbox(model.init(jax.random.key(1), x)["params"])
    got = model.apply({"params": params}, x, lengths=lengths)
    stack = [{d: params[f"layer_{k}_{d}"] for d in ("fwd", "bwd")} for k in range(2)]
    want = run(Cell("lstm", H), stack, x, lengths=lengths)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)


def test_dropout_only_when_training():
    """Catches dropout at evaluation (train=False) or a training call that ignores the rate."""
    model = RNN("elman_tanh", H, num_layers=2, dropout_rate=0.5)
    x = _x()
    params = model.init(jax.random.key(0), x)["params"]
    evaluation, _ = model.apply({"params": params}, x)
    rngs = {"dropout": jax.random.key(3)}
    still, _ = model.apply({"params": params}, x, rngs=rngs)
    np.testing.assert_array_equal(still, evaluation)
    training, _ = model.apply({"params": params}, x, train=True, rngs=rngs)
    assert np.abs(np.asarray(training) - np.asarray(evaluation)).max() > 1e-2


def test_refuses_bad_configs_and_inputs():
    x = _x()
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        RNN("gru", H, num_layers=0).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"rank 3 \(\[B,T,I\] or \[T,B,I\]\), got \(2, 5\)"):
        RNN("gru", H).init(jax.random.key(0), x[:, :, 0])
    with pytest.raises(ValueError, match="Unknown cell 'LSTM'"):
        RNN("LSTM", H).init(jax.random.key(0), x)
