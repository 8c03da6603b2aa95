"""Tests for research/nn/mlp.py: the block against a numpy transcription of GPT-2's MLP."""

import flax.linen as nn
import jax
import numpy as np

from research.nn.mlp import MlpBlock


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def test_equals_numpy_gpt2_mlp():
    block = MlpBlock(mlp_dim=7)
    x = jax.random.normal(jax.random.key(0), (2, 3, 4))
    variables = block.init(jax.random.key(1), x)
    p = nn.unbox(variables["params"])
    # Random biases, so their placement is checked too.
    p = jax.tree.map(lambda a: a + 0.1 * np.arange(a.size).reshape(a.shape) / a.size, p)
    x_np = np.asarray(x, np.float64)
    hidden = _gelu_tanh(x_np @ p["wi"]["kernel"] + p["wi"]["bias"])
    expected = hidden @ p["wo"]["kernel"] + p["wo"]["bias"]
    np.testing.assert_allclose(block.apply({"params": p}, x), expected, atol=1e-5)


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
