"""The project's one convolution layer, 1-D or 2-D (any count of spatial dims), plain or transposed.

    Conv(features, kernel_size=(K,), strides=(2,))            x [B, L, I]    -> [B, ceil(L/2), O]
    Conv(features, kernel_size=(3, 3), strides=(2, 2))        x [B, H, W, I] -> [B, H/2, W/2, O]
    Conv(features, (3, 3), (2, 2), transpose=True)            x [B, H, W, I] -> [B, 2H, 2W, O]

Parameters: 'kernel' [*kernel_size, I, O] with logical axes (None,) * k + axes, and 'bias' [O] with
axes[1:]: the spatial window dims have no name, the input and output channels are named like a
dense layer's input and output (default ('embed', 'hidden')), so a mesh can shard a kernel by its
channels as it shards an `EinsumDense`. A channel count of the data itself (an image's 1 or 3
channels) is too small to shard: name that side None.

The math is `jax.lax.conv_general_dilated` ('SAME' or 'VALID' padding) or, with transpose=True,
`jax.lax.conv_transpose` (the gradient of a strided convolution, used to upsample), with
channels-last dimension numbers, as flax's `nn.Conv` / `nn.ConvTranspose` compute them; the
default kernel init is theirs too (LeCun normal: fan-in = window size * I).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def _dimension_numbers(num_spatial: int) -> tuple[str, str, str]:
    """Channels-last specs: ('NHC', 'HIO', 'NHC') for 1-D, ('NHWC', 'HWIO', 'NHWC') for 2-D."""
    spatial = "HWD"[:num_spatial]
    return f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"


def conv(x, kernel, bias, strides, padding: str = "SAME", *, transpose: bool = False):
    """Convolution (or its transpose) plus bias, channels last.

    Shapes: x [B, *S, I], kernel [*K, I, O], bias [O] -> [B, *S', O] with S' = ceil(S / strides)
    ('SAME'; transpose: S * strides).
    """
    if kernel.ndim != x.ndim or len(strides) != x.ndim - 2:
        raise ValueError(
            f"A convolution of inputs {x.shape} needs a kernel of rank {x.ndim} and "
            f"{x.ndim - 2} strides, got kernel {kernel.shape} and strides {tuple(strides)}; give "
            "one kernel size and one stride per spatial dim."
        )
    dims = _dimension_numbers(len(strides))
    if transpose:
        y = jax.lax.conv_transpose(x, kernel, tuple(strides), padding, dimension_numbers=dims)
    else:
        y = jax.lax.conv_general_dilated(x, kernel, tuple(strides), padding, dimension_numbers=dims)
    return y + bias


class Conv(nn.Module):
    """A thin holder of a convolution's kernel and bias around `conv`; see the module docstring."""

    features: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] | None = None  # None: 1 per spatial dim
    axes: tuple[str | None, str | None] = ("embed", "hidden")  # (input, output) channels
    transpose: bool = False
    padding: str = "SAME"
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        window = tuple(self.kernel_size)
        kernel = self.param(
            "kernel",
            nn.with_logical_partitioning(self.kernel_init, (None,) * len(window) + self.axes),
            (*window, x.shape[-1], self.features),
            self.param_dtype,
        )
        bias = self.param(
            "bias",
            nn.with_logical_partitioning(self.bias_init, self.axes[1:]),
            (self.features,),
            self.param_dtype,
        )
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        strides = self.strides or (1,) * len(window)
        return conv(x, kernel, bias, strides, self.padding, transpose=self.transpose)
