"""Normalization layers with logical axes: LayerNorm (Ba et al., 2016) and RMSNorm (Zhang and
Sennrich, 2019), the two every model of the project uses.

The math is in pure functions (`layer_norm`, `rms_norm`), computed in float32 whatever the input
dtype (a bfloat16 variance loses most of its digits) and cast back to the compute dtype. The modules
only hold the parameters: `scale` [D] (and `bias` [D] for LayerNorm when `use_bias`), with logical
axes ('embed',) by default.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def layer_norm(x, scale, bias, *, epsilon: float):
    """(x - mean) / sqrt(var + epsilon) * scale + bias over the last axis.

    Shapes: x [..., D], scale [D], bias [D] or None -> [..., D] in float32.
    """
    x = x.astype(jnp.float32)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centered = x - mean
    var = jnp.mean(jnp.square(centered), axis=-1, keepdims=True)
    y = centered * jax.lax.rsqrt(var + epsilon) * scale.astype(jnp.float32)
    return y if bias is None else y + bias.astype(jnp.float32)


def rms_norm(x, scale, *, epsilon: float):
    """x / sqrt(mean(x^2) + epsilon) * scale over the last axis: no centering, no bias (T5, LLaMA).

    Shapes: x [..., D], scale [D] -> [..., D] in float32.
    """
    x = x.astype(jnp.float32)
    mean_square = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    return x * jax.lax.rsqrt(mean_square + epsilon) * scale.astype(jnp.float32)


def _check_features(module: nn.Module, x) -> int:
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(
            f"{type(module).__name__} {module.name!r} normalizes the last axis, got an input of "
            f"shape {x.shape}; pass an array [..., D] with D >= 1."
        )
    return x.shape[-1]


class LayerNorm(nn.Module):
    """LayerNorm over the last axis. Shapes: x [..., D] -> [..., D]. Params: scale [D], bias [D]."""

    epsilon: float = 1e-5
    use_bias: bool = True
    axes: tuple[str | None] = ("embed",)
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        features = _check_features(self, x)
        partitioned = lambda init: nn.with_logical_partitioning(init, self.axes)
        scale = self.param(
            "scale", partitioned(nn.initializers.ones), (features,), self.param_dtype
        )
        bias = None
        if self.use_bias:
            bias = self.param(
                "bias", partitioned(nn.initializers.zeros), (features,), self.param_dtype
            )
        return layer_norm(x, scale, bias, epsilon=self.epsilon).astype(self.dtype)


class RMSNorm(nn.Module):
    """RMSNorm over the last axis. Shapes: x [..., D] -> [..., D]. Params: scale [D]."""

    epsilon: float = 1e-6
    axes: tuple[str | None] = ("embed",)
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        features = _check_features(self, x)
        scale = self.param(
            "scale",
            nn.with_logical_partitioning(nn.initializers.ones, self.axes),
            (features,),
            self.param_dtype,
        )
        return rms_norm(x, scale, epsilon=self.epsilon).astype(self.dtype)
