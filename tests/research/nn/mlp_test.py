"""Tests for research/nn/mlp.py: the block against a numpy transcription of GPT-2's MLP, each
activation against its formula, logical axes and dropout; the gated block against its formula and
Hugging Face T5 v1.1's."""

import math

import flax.linen as nn
import jax
import numpy as np
import pytest

from research.nn.mlp import GatedMlpBlock, MlpBlock
from tests.reference_packages import import_reference


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _gelu_erf(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


FORMULAS = {
    "gelu_tanh": _gelu_tanh,
    "gelu": _gelu_erf,
    "relu": lambda x: np.maximum(x, 0),
    "silu": lambda x: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("activation", sorted(FORMULAS))
def test_equals_numpy_mlp_for_each_activation(activation):
    # Kernels of std 1 put pre-activations in [-6, 6], where the tanh and erf forms of GELU
    # differ by up to ~1e-3 (std 0.02 kernels would hide it under the tolerance).
    block = MlpBlock(mlp_dim=7, activation=activation, kernel_init=nn.initializers.normal(1.0))
    x = jax.random.normal(jax.random.key(0), (2, 3, 4))
    variables = block.init(jax.random.key(1), x)
    p = nn.unbox(variables["params"])
    # Random biases, so their placement is checked too.
    p = jax.tree.map(lambda a: a + 0.1 * np.arange(a.size).reshape(a.shape) / a.size, p)
    x_np = np.asarray(x, np.float64)
    pre = x_np @ p["wi"]["kernel"] + p["wi"]["bias"]
    assert np.abs(pre).max() > 2  # where the activations tell each other apart
    expected = FORMULAS[activation](pre) @ p["wo"]["kernel"] + p["wo"]["bias"]
    np.testing.assert_allclose(block.apply({"params": p}, x), expected, atol=2e-6)
    for other, formula in FORMULAS.items():
        if other != activation:
            wrong = formula(pre) @ p["wo"]["kernel"] + p["wo"]["bias"]
            assert np.abs(np.asarray(block.apply({"params": p}, x)) - wrong).max() > 1e-5


def test_unknown_activation_and_bad_rank_are_refused():
    with pytest.raises(ValueError, match="Unknown activation 'gelu_new'; choose one of"):
        MlpBlock(mlp_dim=4, activation="gelu_new").init(jax.random.key(0), np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"\[B,T,D\], got shape \(2, 3\)"):
        MlpBlock(mlp_dim=4).init(jax.random.key(0), np.ones((2, 3)))


def test_param_shapes_and_logical_axes():
    block = MlpBlock(mlp_dim=7)
    variables = block.init(jax.random.key(0), np.zeros((1, 2, 4), np.float32))
    p = nn.unbox(variables["params"])
    assert p["wi"]["kernel"].shape == (4, 7) and p["wo"]["kernel"].shape == (7, 4)
    specs = nn.get_partition_spec(variables)["params"]
    assert tuple(specs["wi"]["kernel"]) == ("embed", "mlp")
    assert tuple(specs["wi"]["bias"]) == ("mlp",)
    assert tuple(specs["wo"]["kernel"]) == ("mlp", "embed")
    assert tuple(specs["wo"]["bias"]) == ("embed",)


def test_dropout_uses_rng_only_in_train():
    block = MlpBlock(mlp_dim=16, dropout_rate=0.5)
    x = jax.random.normal(jax.random.key(0), (2, 8, 4))
    variables = block.init(jax.random.key(1), x)
    eval_out = block.apply(variables, x)
    a = block.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    b = block.apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)})
    assert not np.array_equal(a, b)
    kept = a != 0
    np.testing.assert_allclose(a[kept], 2 * eval_out[kept], rtol=1e-5)


@pytest.mark.parametrize("activation", ["gelu_tanh", "silu"])
def test_gated_block_equals_its_formula(activation):
    # GEGLU / SwiGLU: act(x W0) * (x W1) W_o; swapping the gate and the linear half must fail.
    block = GatedMlpBlock(mlp_dim=6, activation=activation, kernel_init=nn.initializers.normal(1.0))
    x = jax.random.normal(jax.random.key(0), (2, 3, 4))
    p = nn.unbox(block.init(jax.random.key(1), x)["params"])
    assert jax.tree.map(np.shape, p) == {
        "wi_0": {"kernel": (4, 6)},
        "wi_1": {"kernel": (4, 6)},
        "wo": {"kernel": (6, 4)},
    }
    x_np = np.asarray(x, np.float64)
    gate, linear = x_np @ p["wi_0"]["kernel"], x_np @ p["wi_1"]["kernel"]
    want = (FORMULAS[activation](gate) * linear) @ p["wo"]["kernel"]
    got = np.asarray(block.apply({"params": p}, x))
    np.testing.assert_allclose(got, want, atol=2e-6)
    swapped = (FORMULAS[activation](linear) * gate) @ p["wo"]["kernel"]
    assert np.abs(got - swapped).max() > 1e-3


def test_gated_block_equals_hugging_face_t5_v1_1():
    torch = import_reference("torch")
    t5 = import_reference("transformers.models.t5.modeling_t5")
    config = t5.T5Config(d_model=8, d_ff=12, dense_act_fn="gelu_new", dropout_rate=0.0)
    theirs = t5.T5DenseGatedActDense(config).eval()
    block = GatedMlpBlock(mlp_dim=12, activation="gelu_tanh")
    x = jax.random.normal(jax.random.key(2), (2, 5, 8))
    p = nn.unbox(block.init(jax.random.key(3), x)["params"])
    with torch.no_grad():  # torch Linear weights are [out, in]: the transposed kernels
        for name in ("wi_0", "wi_1", "wo"):
            getattr(theirs, name).weight.copy_(torch.tensor(np.asarray(p[name]["kernel"]).T))
        want = theirs(torch.tensor(np.asarray(x))).numpy()
    np.testing.assert_allclose(np.asarray(block.apply({"params": p}, x)), want, atol=1e-6)
