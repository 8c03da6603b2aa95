"""The transformer feed-forward block: dense D->F, activation, dense F->D.

The activation is a name from `ACTIVATIONS`. GPT-2 uses the tanh approximation of GELU
('gelu_tanh'; Hugging Face calls it 'gelu_new'), which GPT-2 checkpoints need to reproduce their
logits; BERT uses the exact erf form ('gelu'); the original transformer and T5 v1.0 use 'relu'.
Gated variants (GEGLU, SwiGLU) are a structurally different block: `GatedMlpBlock` below.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn.dense import EinsumDense

ACTIVATIONS = {
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
}


def activation_fn(name: str):
    """The activation function called `name`, or a ValueError listing the known names."""
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


class MlpBlock(nn.Module):
    """Position-wise feed-forward block with dropout on its output.

    Shapes: x [B,T,D] -> [B,T,D]. Params: `wi` kernel [D,F], bias [F]; `wo` kernel [F,D], bias [D]
    (no biases with `use_bias=False`, as in T5). Dropout (when `train` and `dropout_rate > 0`) uses
    the 'dropout' rng.
    """

    mlp_dim: int
    activation: str = "gelu_tanh"
    dropout_rate: float = 0.0
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    out_kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if x.ndim != 3:
            raise ValueError(f"MlpBlock expects x of shape [B,T,D], got shape {x.shape}.")
        act = activation_fn(self.activation)
        features = x.shape[-1]
        h = EinsumDense(
            "BTD,DF->BTF",
            kernel_shape=(features, self.mlp_dim),
            kernel_axes=("embed", "mlp"),
            bias_axes=("mlp",) if self.use_bias else None,
            kernel_init=self.kernel_init,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="wi",
        )(x)
        h = nn.with_logical_constraint(act(h), ("batch", "length", "mlp"))
        y = EinsumDense(
            "BTF,FD->BTD",
            kernel_shape=(self.mlp_dim, features),
            kernel_axes=("mlp", "embed"),
            bias_axes=("embed",) if self.use_bias else None,
            kernel_init=self.out_kernel_init,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="wo",
        )(h)
        y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
        return nn.with_logical_constraint(y, ("batch", "length", "embed"))


class GatedMlpBlock(nn.Module):
    """Gated feed-forward block (Shazeer 2020, "GLU Variants Improve Transformer"):
    act(x W_0) * (x W_1), then W_o. 'gelu_tanh' (or 'gelu') makes GEGLU, T5 v1.1's and Gemma's
    block; 'silu' makes SwiGLU, Llama's. No biases, as in those models.

    Shapes: x [B,T,D] -> [B,T,D]. Params: `wi_0`, `wi_1` kernel [D,F]; `wo` kernel [F,D] (T5
    v1.1's names). Dropout (when `train`) on the output, rng 'dropout'.
    """

    mlp_dim: int
    activation: str = "gelu_tanh"
    dropout_rate: float = 0.0
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    out_kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if x.ndim != 3:
            raise ValueError(f"GatedMlpBlock expects x of shape [B,T,D], got shape {x.shape}.")
        act = activation_fn(self.activation)
        features = x.shape[-1]

        def dense(name, shape, axes, init, equation):
            return EinsumDense(
                equation,
                kernel_shape=shape,
                kernel_axes=axes,
                kernel_init=init,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=name,
            )

        up = (features, self.mlp_dim)
        gate = dense("wi_0", up, ("embed", "mlp"), self.kernel_init, "BTD,DF->BTF")(x)
        linear = dense("wi_1", up, ("embed", "mlp"), self.kernel_init, "BTD,DF->BTF")(x)
        h = nn.with_logical_constraint(act(gate) * linear, ("batch", "length", "mlp"))
        down = (self.mlp_dim, features)
        y = dense("wo", down, ("mlp", "embed"), self.out_kernel_init, "BTF,FD->BTD")(h)
        y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
        return nn.with_logical_constraint(y, ("batch", "length", "embed"))
