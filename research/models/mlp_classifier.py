"""A multilayer perceptron classifier: the smallest complete model, and the loop's second customer.

  x [B, In] -> (Dense -> GELU -> dropout) x num_layers -> Dense -> logits [B, num_classes]

Parameter tree: hidden_{i}/{kernel [In or F, F], bias [F]}, out/{kernel [F, C], bias [C]}. Every
hidden kernel has logical axes ('embed', 'hidden'): its input side (features or the previous layer's
units) shards over `fsdp`, its units over `tensor`; `out` has ('hidden', 'vocab').
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from research.nn.dense import dense_2d


@dataclasses.dataclass(frozen=True)
class Config:
    num_classes: int = 10
    hidden_dim: int = 256
    num_layers: int = 2
    dropout_rate: float = 0.1


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
        h = x.astype(jnp.float32)
        for i in range(cfg.num_layers):
            h = dense_2d(h.shape[-1], cfg.hidden_dim, ("embed", "hidden"), f"hidden_{i}")(h)
            h = nn.with_logical_constraint(nn.gelu(h), ("batch", "hidden"))
            h = nn.Dropout(cfg.dropout_rate, deterministic=not train)(h)
        in_axis = "hidden" if cfg.num_layers else "embed"
        return dense_2d(h.shape[-1], cfg.num_classes, (in_axis, "vocab"), "out")(h)


def make(variant: str | None = None, **overrides) -> Model:
    """A `Model` from a preset in `VARIANTS` (None: the `Config` defaults) plus field overrides."""
    if variant is not None and variant not in VARIANTS:
        raise ValueError(
            f"Unknown mlp_classifier variant {variant!r}; choose one of {sorted(VARIANTS)} or None."
        )
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"Unknown mlp_classifier Config field(s) {unknown}; valid fields are {sorted(fields)}."
        )
    return Model(Config(**{**(VARIANTS[variant] if variant else {}), **overrides}))
