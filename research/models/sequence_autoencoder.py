"""Sequence autoencoders for windows of a time series: 1-D convolutional or LSTM encoder-decoder.

  x [B, L, C] -> encoder -> z [B, Z] -> decoder -> reconstruction [B, L, C]

architecture='conv': two stride-2 convolutions (kernel K, GELU) take [B, L, C] to [B, L/4, H]; `to_latent`
  (kernel [L/4, H, Z]) maps that to z; `from_latent` (kernel [Z, L/4, H]) back; two (repeat x2,
  convolution) stages upsample, the last one to C channels without activation. L must be a
  multiple of 4.
architecture='lstm': an LSTM (research/rnn) reads the window; its last output goes to z through
  `to_latent`; a second LSTM reads z repeated L times and `out` maps its outputs to C channels.

L and C come from the input at `init` (they are data shapes, not hyperparameters). Parameters:
conv_{0..3}/{kernel [K, I, O], bias [O]} (`research.nn.conv.Conv`) with axes
(None, 'embed', 'hidden') on the input side
('hidden', 'embed') on the output layer; to_latent/from_latent carry 'latent'; the LSTMs' names
and axes are research/rnn/layer.py's (encoder/layer_0_fwd/{wi, wh, bi, bh}, decoder/...).
`dtype` is the compute dtype (e.g. 'bfloat16'), `param_dtype` the parameters'; the output is float32.
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from research.models import contract
from research.nn.conv import Conv
from research.nn.dense import EinsumDense
from research.rnn.layer import RNN

ARCHITECTURES = ("conv", "lstm")


@dataclasses.dataclass(frozen=True)
class Config:
    architecture: str = "conv"  # 'conv' or 'lstm'
    hidden_dim: int = 32
    latent_dim: int = 8
    kernel_size: int = 5
    forget_bias: float = 1.0  # LSTM only
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'
    param_dtype: str = "float32"

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"Unknown sequence_autoencoder architecture {self.architecture!r}; choose one of "
                f"{list(ARCHITECTURES)}."
            )
        for name in ("hidden_dim", "latent_dim", "kernel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1; pass e.g. 8.")
        contract.check_dtypes(self)


VARIANTS = {
    "conv": dict(architecture="conv", hidden_dim=32, latent_dim=8, kernel_size=5, forget_bias=1.0),
    "lstm": dict(architecture="lstm", hidden_dim=32, latent_dim=8, kernel_size=5, forget_bias=1.0),
    "tiny": dict(architecture="conv", hidden_dim=8, latent_dim=4, kernel_size=3, forget_bias=1.0),
}


def _fan_in_init(in_axis, out_axis):
    return nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis)


class Model(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        """x: float [B, L, C] -> reconstruction float32 [B, L, C]."""
        cfg = self.config
        if x.ndim != 3:
            raise ValueError(f"inputs must be windows [B, L, C], got shape {x.shape}.")
        dtypes = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype))
        x = x.astype(jnp.float32)
        batch, length, channels = x.shape
        h, z = cfg.hidden_dim, cfg.latent_dim
        if cfg.architecture == "lstm":
            enc, _ = RNN("lstm", h, forget_bias=cfg.forget_bias, name="encoder", **dtypes)(x)
            code = EinsumDense(
                "BH,HZ->BZ", (h, z), ("hidden", "latent"), ("latent",), name="to_latent", **dtypes
            )(enc[:, -1])
            code = nn.with_logical_constraint(code, ("batch", "latent"))
            repeated = jnp.broadcast_to(code[:, None, :], (batch, length, z))
            dec, _ = RNN("lstm", h, forget_bias=cfg.forget_bias, name="decoder", **dtypes)(repeated)
            return EinsumDense(
                "BTH,HC->BTC", (h, channels), ("hidden", "embed"), ("embed",), name="out", **dtypes
            )(dec).astype(jnp.float32)
        if length % 4:
            raise ValueError(
                f"The conv autoencoder halves the window twice, so its length must be a multiple "
                f"of 4, got {length}; pick e.g. --config.data.window={length + 4 - length % 4}."
            )
        k, quarter = cfg.kernel_size, length // 4
        y = nn.gelu(Conv(h, (k,), (2,), name="conv_0", **dtypes)(x))
        y = nn.gelu(Conv(h, (k,), (2,), name="conv_1", **dtypes)(y))
        code = EinsumDense(
            "BTH,THZ->BZ", (quarter, h, z), (None, "hidden", "latent"), ("latent",),
            kernel_init=_fan_in_init((0, 1), 2), name="to_latent", **dtypes,
        )(y)  # fmt: skip
        code = nn.with_logical_constraint(code, ("batch", "latent"))
        y = EinsumDense(
            "BZ,ZTH->BTH", (z, quarter, h), ("latent", None, "hidden"), (None, "hidden"),
            kernel_init=_fan_in_init(0, (1, 2)), name="from_latent", **dtypes,
        )(code)  # fmt: skip
        y = nn.gelu(y)
        y = nn.gelu(Conv(h, (k,), name="conv_2", **dtypes)(jnp.repeat(y, 2, axis=1)))
        out = Conv(channels, (k,), axes=("hidden", "embed"), name="conv_3", **dtypes)
        return out(jnp.repeat(y, 2, axis=1)).astype(jnp.float32)


make = contract.maker("sequence_autoencoder", Config, VARIANTS, Model)
