"""Tests for research/nn/conv.py: a 1-D 'SAME' convolution against numpy, 2-D plain and transposed
convolutions against flax's nn.Conv / nn.ConvTranspose with the same hand-set parameters, the
initial parameters equal to flax's (old checkpoints and results unchanged), logical axes, dtypes
and the one-sentence refusal."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.conv import Conv, conv


def _hand_set(rng, *shapes):
    return [rng.normal(size=s).astype(np.float32) for s in shapes]


def test_1d_same_convolution_equals_numpy_with_stride():
    x, k, b = _hand_set(np.random.default_rng(0), (2, 9, 3), (3, 3, 4), (4,))
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))  # 'SAME' for K=3, stride 1: one zero each side
    want = np.stack([np.einsum("bki,kio->bo", padded[:, t : t + 3], k) for t in range(9)], 1) + b
    np.testing.assert_allclose(np.asarray(conv(x, k, b, (1,))), want, atol=1e-5)
    # Stride 2 keeps every other output of the stride-1 convolution (odd length: XLA pads 1 left).
    np.testing.assert_allclose(np.asarray(conv(x, k, b, (2,))), want[:, ::2], atol=1e-5)
    layer = Conv(4, (3,), (2,))
    got = layer.apply({"params": {"kernel": k, "bias": b}}, x)
    np.testing.assert_allclose(np.asarray(got), want[:, ::2], atol=1e-5)


@pytest.mark.parametrize("transpose", [False, True])
def test_2d_equals_flax_with_the_same_parameters_and_initializes_like_it(transpose):
    """Catches wrong dimension numbers, a transposed kernel, a lost stride or bias; and an init
    that differs from flax's, which would change every conv autoencoder's numbers."""
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    ours = Conv(5, (3, 3), (2, 2), transpose=transpose, name="conv_0")
    flax_cls = nn.ConvTranspose if transpose else nn.Conv
    theirs = flax_cls(5, (3, 3), (2, 2), padding="SAME", name="conv_0")
    params = nn.unbox(ours.init(jax.random.key(1), x))["params"]
    flax_params = theirs.init(jax.random.key(1), x)["params"]
    np.testing.assert_array_equal(params["kernel"], flax_params["kernel"])
    kernel, bias = _hand_set(np.random.default_rng(2), (3, 3, 3, 5), (5,))
    hand = {"params": {"kernel": kernel, "bias": bias}}
    got, want = ours.apply(hand, x), theirs.apply(hand, x)
    assert got.shape == ((2, 8, 8, 5) if transpose else (2, 2, 2, 5))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def test_logical_axes_name_the_channels_and_dtypes_apply():
    x = jnp.zeros((1, 8, 2))
    boxed = Conv(4, (5,), axes=("hidden", "embed")).init(jax.random.key(0), x)["params"]
    assert tuple(nn.get_partition_spec(boxed)["kernel"]) == (None, "hidden", "embed")
    assert tuple(nn.get_partition_spec(boxed)["bias"]) == ("embed",)
    image = Conv(4, (3, 3), axes=(None, "hidden")).init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))
    assert tuple(nn.get_partition_spec(image["params"])["kernel"]) == (None, None, None, "hidden")
    layer = Conv(4, (3,), dtype=jnp.bfloat16, param_dtype=jnp.bfloat16)
    variables = layer.init(jax.random.key(0), x)
    assert nn.unbox(variables["params"])["kernel"].dtype == jnp.bfloat16
    assert layer.apply(variables, x).dtype == jnp.bfloat16


def test_a_stride_per_spatial_dim_is_required():
    with pytest.raises(ValueError, match=r"needs a kernel of rank 4 and 2 strides, got .* \(2,\)"):
        conv(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 2)), jnp.zeros(2), (2,))
