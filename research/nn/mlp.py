"""The transformer feed-forward block: Dense D->F, GELU, Dense F->D.

GELU uses the tanh approximation, as GPT-2 did (Hugging Face calls it 'gelu_new'), so that GPT-2
checkpoints reproduce their logits.
"""

import flax.linen as nn
import jax.numpy as jnp


class MlpBlock(nn.Module):
    """Position-wise feed-forward block with dropout on its output.

    Shapes: x [B,T,D] -> [B,T,D]. Params: `wi` kernel [D,F], bias [F]; `wo` kernel [F,D], bias [D].
    Dropout (when `train` and `dropout_rate > 0`) uses the 'dropout' rng.
    """

    mlp_dim: int
    dropout_rate: float = 0.0
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    out_kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        assert x.ndim == 3, f"MlpBlock expects [B,T,D], got shape {x.shape}"
        features = x.shape[-1]
        h = nn.Dense(
            self.mlp_dim,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=nn.with_logical_partitioning(self.kernel_init, ("embed", "mlp")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("mlp",)),
            name="wi",
        )(x)  # [B,T,F]
        h = nn.with_logical_constraint(nn.gelu(h, approximate=True), ("batch", "length", "mlp"))
        y = nn.Dense(
            features,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=nn.with_logical_partitioning(self.out_kernel_init, ("mlp", "embed")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("embed",)),
            name="wo",
        )(h)  # [B,T,D]
        y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
        return nn.with_logical_constraint(y, ("batch", "length", "embed"))
