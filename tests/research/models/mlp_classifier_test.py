"""Tests for research/models/mlp_classifier.py: presets, parameter names, numpy forward, dropout."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from research.models import mlp_classifier
from research.models.mlp_classifier import Config, make


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _init(model, features=5):
    x = np.zeros((1, features), np.float32)
    return model.init({"params": jax.random.key(0)}, x)


def test_make_presets_and_overrides():
    assert make().config == Config()
    assert make("small").config == Config(**mlp_classifier.VARIANTS["small"])
    assert make("digits", hidden_dim=7).config.hidden_dim == 7
    assert make("digits", hidden_dim=7).config.num_layers == 2
    for name, fields in mlp_classifier.VARIANTS.items():
        assert make(name).config == Config(**fields)


def test_make_refuses_unknown_variants_and_fields():
    with pytest.raises(
        ValueError,
        match=r"Unknown mlp_classifier variant 'huge'; choose one of \['digits', 'small'\]",
    ):
        make("huge")
    with pytest.raises(ValueError, match=r"Config field\(s\) \['hiden_dim'\]; valid fields are"):
        make(hiden_dim=3)


def test_parameter_names_shapes_and_logical_axes():
    variables = jax.eval_shape(lambda: _init(make(num_classes=3, hidden_dim=8, num_layers=2)))
    params = nn.unbox(variables["params"])
    shapes = jax.tree.map(lambda a: a.shape, params)
    assert shapes == {
        "hidden_0": {"kernel": (5, 8), "bias": (8,)},
        "hidden_1": {"kernel": (8, 8), "bias": (8,)},
        "out": {"kernel": (8, 3), "bias": (3,)},
    }
    specs = nn.get_partition_spec(variables)["params"]
    assert tuple(specs["hidden_0"]["kernel"]) == ("embed", "hidden")
    assert tuple(specs["hidden_1"]["kernel"]) == ("embed", "hidden")
    assert tuple(specs["hidden_1"]["bias"]) == ("hidden",)
    assert tuple(specs["out"]["kernel"]) == ("hidden", "vocab")
    assert tuple(specs["out"]["bias"]) == ("vocab",)


def test_zero_hidden_layers_is_logistic_regression():
    variables = _init(make(num_classes=4, num_layers=0))
    assert jax.tree.map(lambda a: a.shape, nn.unbox(variables["params"])) == {
        "out": {"kernel": (5, 4), "bias": (4,)}
    }
    assert tuple(nn.get_partition_spec(variables)["params"]["out"]["kernel"]) == ("embed", "vocab")


def _random_params(model, seed=1):
    params = nn.unbox(_init(model)["params"])
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), params)


def test_logits_equal_a_numpy_forward():
    model = make(num_classes=3, hidden_dim=8, num_layers=2, dropout_rate=0.5)
    params = _random_params(model)
    x = np.random.default_rng(2).uniform(size=(4, 5)).astype(np.float32)
    h = x.astype(np.float64)
    for i in range(2):
        layer = params[f"hidden_{i}"]
        h = _gelu_tanh(h @ layer["kernel"] + layer["bias"])
    expected = h @ params["out"]["kernel"] + params["out"]["bias"]
    logits = model.apply({"params": params}, x)  # train=False: dropout is off
    assert logits.dtype == np.float32 and logits.shape == (4, 3)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_dropout_only_when_training():
    model = make(num_classes=3, hidden_dim=64, num_layers=1, dropout_rate=0.5)
    params = _random_params(model)
    x = np.random.default_rng(3).uniform(size=(4, 5)).astype(np.float32)
    evaluation = model.apply({"params": params}, x, rngs={"dropout": jax.random.key(1)})
    np.testing.assert_array_equal(evaluation, model.apply({"params": params}, x))
    a = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(2)})
    again = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(1)})
    assert not np.allclose(a, evaluation) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, again)  # the rng alone decides the mask
    no_dropout = make(num_classes=3, hidden_dim=64, num_layers=1, dropout_rate=0.0)
    np.testing.assert_array_equal(
        no_dropout.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(1)}),
        evaluation,
    )


def test_rejects_inputs_that_are_not_a_matrix():
    model = make("small")
    params = nn.unbox(_init(model)["params"])
    with pytest.raises(ValueError, match=r"inputs must be \[B, features\]"):
        model.apply({"params": params}, np.zeros((2, 1, 5), np.float32))
