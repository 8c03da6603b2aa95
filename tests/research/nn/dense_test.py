"""Tests for research/nn/dense.py: the einsum against numpy, full-rank kernels with their logical
names (the reason the layer exists), bias placement, no-bias mode, dtypes and bad axes."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from research.nn.dense import EinsumDense, dense_2d
from research.sharding.axes import RULES
from research.sharding.mesh import make_mesh


def _heads_projection(**kwargs):
    return EinsumDense(
        "BTD,DNH->BTNH",
        kernel_shape=(6, 2, 3),
        kernel_axes=("embed", "heads", "kv"),
        bias_axes=("heads", "kv"),
        kernel_init=nn.initializers.normal(1.0),
        **kwargs,
    )


def test_equals_numpy_einsum_with_bias_on_the_output_dims():
    layer = _heads_projection(bias_init=nn.initializers.normal(1.0))
    x = jax.random.normal(jax.random.key(0), (2, 4, 6))
    variables = layer.init(jax.random.key(1), x)
    p = jax.tree.map(np.asarray, nn.unbox(variables["params"]))
    assert p["kernel"].shape == (6, 2, 3) and p["bias"].shape == (2, 3)
    expected = np.einsum("btd,dnh->btnh", np.asarray(x, np.float64), p["kernel"]) + p["bias"]
    np.testing.assert_allclose(layer.apply(variables, x), expected, atol=1e-5)


def test_kernel_is_born_sharded_at_full_rank_under_a_mesh():
    # flax's DenseGeneral would create a 2-D kernel here and its 3-name annotation would fail.
    layer = _heads_projection()
    x = jnp.zeros((8, 4, 6))
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    with jax.set_mesh(mesh), nn.logical_axis_rules(list(RULES)):
        abstract = jax.eval_shape(layer.init, jax.random.key(0), x)
        specs = nn.get_partition_spec(abstract)["params"]
        shardings = nn.logical_to_mesh_sharding(specs, mesh, list(RULES))
        params = jax.jit(lambda r: nn.unbox(layer.init(r, x))["params"], out_shardings=shardings)(
            jax.random.key(0)
        )
    assert tuple(specs["kernel"]) == ("embed", "heads", "kv")
    assert params["kernel"].sharding == NamedSharding(mesh, P("fsdp", "tensor", None))
    assert params["kernel"].addressable_shards[0].data.shape == (3, 1, 3)


def test_no_bias_when_bias_axes_is_none():
    layer = EinsumDense("...I,IO->...O", kernel_shape=(3, 2), kernel_axes=("embed", "mlp"))
    x = jnp.ones((5, 3))
    variables = layer.init(jax.random.key(0), x)
    assert set(variables["params"]) == {"kernel"}
    kernel = nn.unbox(variables["params"])["kernel"]
    np.testing.assert_allclose(layer.apply(variables, x), x @ kernel, atol=1e-6)


def test_compute_dtype_and_param_dtype():
    layer = _heads_projection(dtype=jnp.bfloat16)
    x = jax.random.normal(jax.random.key(0), (2, 4, 6))
    variables = layer.init(jax.random.key(1), x)
    assert nn.unbox(variables["params"])["kernel"].dtype == jnp.float32
    assert layer.apply(variables, x).dtype == jnp.bfloat16


def test_one_logical_name_per_kernel_dim():
    layer = EinsumDense("BD,DF->BF", kernel_shape=(3, 2), kernel_axes=("embed",))
    with pytest.raises(ValueError, match=r"name 1 dims but kernel_shape \(3, 2\) has 2"):
        layer.init(jax.random.key(0), jnp.ones((1, 3)))


def test_dense_2d_is_the_models_old_dense_layer_with_any_leading_dims():
    """Catches dense_2d drifting from the EinsumDense the autoencoder, MLP classifier and BERT
    built by hand (parameter values at init, logical axes, bias on the output axis)."""
    x = jax.random.normal(jax.random.key(0), (2, 3, 6))
    layer = dense_2d(6, 4, ("embed", "hidden"), "out")
    old = EinsumDense("BI,IO->BO", (6, 4), ("embed", "hidden"), ("hidden",), name="out")
    variables = layer.init(jax.random.key(1), x)
    old_params = nn.unbox(old.init(jax.random.key(1), x[0])["params"])
    params = nn.unbox(variables["params"])
    np.testing.assert_array_equal(params["kernel"], old_params["kernel"])
    specs = nn.get_partition_spec(variables)["params"]
    assert tuple(specs["kernel"]) == ("embed", "hidden") and tuple(specs["bias"]) == ("hidden",)
    params = {"kernel": params["kernel"], "bias": jnp.arange(4.0)}
    want = np.einsum("bti,io->bto", np.asarray(x), params["kernel"]) + np.arange(4.0)
    np.testing.assert_allclose(layer.apply({"params": params}, x), want, rtol=1e-5, atol=1e-5)
    normal = dense_2d(6, 4, ("embed", "hidden"), "out", kernel_init=nn.initializers.normal(0.02))
    kernel = nn.unbox(normal.init(jax.random.key(1), x)["params"])["kernel"]
    assert 0.01 < float(jnp.std(kernel)) < 0.03  # the init passed through (LeCun's std is 0.41)
