"""A multilayer perceptron classifier: the smallest complete model, and the loop's second customer.

  x [B, In] -> (Dense -> GELU -> dropout) x num_layers -> Dense -> logits [B, num_classes]

Parameter tree: hidden_{i}/{kernel [In or F, F], bias [F]}, out/{kernel [F, C], bias [C]}. Every
hidden kernel has logical axes ('embed', 'hidden'): its input side (features or the previous layer's
units) shards over `fsdp`, its units over `tensor`; `out` has ('hidden', 'vocab').
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from research.models import contract
from research.nn.dense import dense_2d


@dataclasses.dataclass(frozen=True)
class Config:
    num_classes: int = 10
    hidden_dim: int = 256
    num_layers: int = 2
    dropout_rate: float = 0.1
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'; the logits are float32
    param_dtype: str = "float32"

    def __post_init__(self):
        for name in ("num_classes", "hidden_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1; pass e.g. 10.")
        if self.num_layers < 0:
            raise ValueError(f"num_layers={self.num_layers} is negative; pass 0 or more.")
        contract.check_dtypes(self)


VARIANTS = {
    "digits": dict(num_classes=10, hidden_dim=256, num_layers=2, dropout_rate=0.1),
    "small": dict(num_classes=10, hidden_dim=64, num_layers=1, dropout_rate=0.0),
}


class Model(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        """x: float [B, In] -> logits float32 [B, num_classes]."""
        if x.ndim != 2:
            raise ValueError(f"inputs must be [B, features], got shape {x.shape}.")
        cfg = self.config
        dtypes = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype))
        h = x.astype(jnp.float32)
        for i in range(cfg.num_layers):
            axes = ("embed", "hidden")
            h = dense_2d(h.shape[-1], cfg.hidden_dim, axes, f"hidden_{i}", **dtypes)(h)
            h = nn.with_logical_constraint(nn.gelu(h), ("batch", "hidden"))
            h = nn.Dropout(cfg.dropout_rate, deterministic=not train)(h)
        in_axis = "hidden" if cfg.num_layers else "embed"
        logits = dense_2d(h.shape[-1], cfg.num_classes, (in_axis, "vocab"), "out", **dtypes)(h)
        return logits.astype(jnp.float32)


make = contract.maker("mlp_classifier", Config, VARIANTS, Model)
