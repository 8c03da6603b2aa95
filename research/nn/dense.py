"""The project's one dense layer: `einsum(equation, x, kernel) + bias`, kernel at its true rank.

Every projection (attention's query/key/value/out, the MLP's wi/wo, classifier layers) is an
`EinsumDense`, so LoRA, quantization and checkpoint converters hook into this one class and find its
parameters under the same two names, `kernel` and `bias`.

Why not `flax.linen.DenseGeneral`: it initializes a flattened 2-D kernel and reshapes it, so a
3-name logical annotation such as ('embed', 'heads', 'kv') fails as soon as a mesh is active.
Creating the kernel at full rank keeps the logical names honest.
"""

import flax.linen as nn
import jax.numpy as jnp


class EinsumDense(nn.Module):
    """`einsum(equation, x, kernel) (+ bias)`, parameters annotated with logical axis names.

    Shapes: kernel `kernel_shape` with logical axes `kernel_axes`; bias the trailing
    `len(bias_axes)` dims of the kernel (its output dims), absent when `bias_axes` is None.
    For example `EinsumDense('BTD,DNH->BTNH', (D, N, H), ('embed', 'heads', 'kv'), ('heads', 'kv'))`
    projects [B,T,D] to [B,T,N,H]; `'...I,IO->...O'` is an ordinary dense layer.

    The default `kernel_init` (LeCun normal) reads fan-in from the kernel's second-to-last dim,
    which is right for 2-D kernels only: pass an explicit init for kernels of higher rank.
    """

    equation: str
    kernel_shape: tuple[int, ...]
    kernel_axes: tuple[str | None, ...]
    bias_axes: tuple[str | None, ...] | None = None
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        if len(self.kernel_axes) != len(self.kernel_shape):
            raise ValueError(
                f"EinsumDense {self.name!r}: kernel_axes {self.kernel_axes} name "
                f"{len(self.kernel_axes)} dims but kernel_shape {self.kernel_shape} has "
                f"{len(self.kernel_shape)}; give one logical name (or None) per kernel dim."
            )
        kernel = self.param(
            "kernel",
            nn.with_logical_partitioning(self.kernel_init, self.kernel_axes),
            self.kernel_shape,
            self.param_dtype,
        )
        bias = None
        if self.bias_axes is not None:
            bias_shape = self.kernel_shape[len(self.kernel_shape) - len(self.bias_axes) :]
            bias = self.param(
                "bias",
                nn.with_logical_partitioning(self.bias_init, self.bias_axes),
                bias_shape,
                self.param_dtype,
            )
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = jnp.einsum(self.equation, x, kernel)
        return y if bias is None else y + bias


def dense_2d(
    in_features: int,
    features: int,
    axes: tuple[str | None, str | None],
    name: str,
    *,
    kernel_init: nn.initializers.Initializer | None = None,  # None: EinsumDense's (LeCun normal)
    dtype: jnp.dtype = jnp.float32,
    param_dtype: jnp.dtype = jnp.float32,
) -> EinsumDense:
    """An ordinary dense layer as an `EinsumDense`: [..., I] -> [..., O] with kernel [I, O] (logical
    axes `axes`, input then output) and bias [O] (axes[1:]); parameters 'kernel' and 'bias'."""
    return EinsumDense(
        "...I,IO->...O",
        kernel_shape=(in_features, features),
        kernel_axes=tuple(axes),
        bias_axes=tuple(axes[1:]),
        dtype=dtype,
        param_dtype=param_dtype,
        name=name,
        **({} if kernel_init is None else {"kernel_init": kernel_init}),
    )
