"""Autoencoders on images: classic, denoising and sparse, one model with its options as data.

  x [B, H, W, C] -> Encoder -> code z [B, Z] -> Decoder -> output [B, H, W, C]

The encoder and decoder are dense (flatten, `num_layers` x (Dense -> GELU), Dense to Z) or
convolutional (`num_conv_layers` x (3x3 conv, stride 2, GELU), features doubling from
`conv_features`, then Dense to Z; the decoder mirrors it with stride-2 transposed convolutions), so
H and W must be divisible by 2 ** num_conv_layers. The code passes through `code_activation`
('linear', 'sigmoid' for the KL sparsity penalty, 'relu') and, when top_k > 0, keeps only its top_k
largest units per example (a k-sparse autoencoder).

`loss` says what the decoder's output is: 'mse' the image itself, 'bernoulli' per-pixel logits (the
'image' output is their sigmoid). What else makes a denoising or sparse autoencoder (corruption,
L1 and KL sparsity weights) changes the objective, not the model: those are the settings of
`research/train/autoencoder_objectives.reconstruction`.

Parameters: dense layers are `EinsumDense` ('kernel', 'bias'). As in mlp_classifier, a hidden
kernel's input side is 'embed' and its units 'hidden'; the encoder's layer to the code has axes
('hidden', 'latent'), the decoder's first ('latent', 'hidden') and its pixel output ('hidden',
'embed'). Convolutions are `research.nn.conv.Conv` ('kernel' [3, 3, Cin, Cout], 'bias'): axes
(None, None, 'embed', 'hidden') like a hidden dense layer, except that the image's own channels
(conv_0's input, deconv_0's output) have no name (1 or 3 channels cannot be sharded).
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.models import contract
from research.nn.conv import Conv
from research.nn.dense import dense_2d


@dataclasses.dataclass(frozen=True)
class Config:
    image_size: int = 8  # H == W
    channels: int = 1
    architecture: str = "dense"  # 'dense' or 'conv'
    hidden_dim: int = 256  # dense: width of each hidden layer
    num_layers: int = 2  # dense: hidden layers in the encoder (and in the decoder)
    conv_features: int = 32  # conv: features of the first conv layer, doubling per layer
    num_conv_layers: int = 2  # conv: stride-2 layers; H and W halve at each
    latent_dim: int = 16
    code_activation: str = "linear"  # 'linear', 'sigmoid' or 'relu'
    top_k: int = 0  # > 0: keep only the top_k largest code units per example
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'; the outputs are float32
    param_dtype: str = "float32"
    loss: str = "mse"  # 'mse' (the output is the image) or 'bernoulli' (the output is logits)

    def __post_init__(self):
        check_architecture(self)
        if self.code_activation not in CODE_ACTIVATIONS:
            raise ValueError(
                f"Unknown code_activation {self.code_activation!r}; choose one of "
                f"{sorted(CODE_ACTIVATIONS)}."
            )
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; choose one of {list(LOSSES)}.")
        if not 0 <= self.top_k <= self.latent_dim:
            raise ValueError(
                f"top_k={self.top_k} must lie in [0, latent_dim={self.latent_dim}] (0 turns it off)."
            )


VARIANTS = {
    "classic": dict(architecture="dense", hidden_dim=256, num_layers=2, latent_dim=16),
    "conv": dict(architecture="conv", conv_features=32, num_conv_layers=2, latent_dim=16),
    "sparse": dict(  # sigmoid units: the KL sparsity penalty's mean activations
        architecture="dense", hidden_dim=256, num_layers=2, latent_dim=64,
        code_activation="sigmoid",
    ),
    "top_k": dict(architecture="dense", hidden_dim=256, num_layers=2, latent_dim=64, top_k=8),
    "mnist_conv": dict(
        image_size=28, architecture="conv", conv_features=32, num_conv_layers=2, latent_dim=32,
        loss="bernoulli",
    ),
}  # fmt: skip

ARCHITECTURES = ("dense", "conv")
CODE_ACTIVATIONS = {"linear": lambda z: z, "sigmoid": nn.sigmoid, "relu": nn.relu}
LOSSES = ("mse", "bernoulli")


def _dtypes(cfg) -> dict:
    """The layers' dtype and param_dtype from a Config (None: float32)."""
    if cfg is None:
        return {}
    return dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype))


def _conv(features: int, axes: tuple, name: str, cfg, transpose: bool = False) -> Conv:
    """A 3x3 stride-2 (transposed) convolution; axes names its (input, output) channels."""
    return Conv(features, (3, 3), (2, 2), axes, transpose, name=name, **_dtypes(cfg))


def check_architecture(cfg) -> None:
    """For the `__post_init__` of this Config and vae's: a one-sentence ValueError for an
    architecture the encoder and decoder cannot build, or a dtype that is not a float dtype."""
    if cfg.architecture not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture {cfg.architecture!r}; choose one of {list(ARCHITECTURES)}."
        )
    if cfg.architecture == "conv" and cfg.image_size % 2**cfg.num_conv_layers:
        raise ValueError(
            f"image_size={cfg.image_size} must be divisible by 2 ** num_conv_layers = "
            f"{2**cfg.num_conv_layers}; use fewer conv layers or another image size."
        )
    contract.check_dtypes(cfg)


class Encoder(nn.Module):
    """Images [B, H, W, C] -> pre-activation code [B, out_dim]; dense or convolutional per cfg."""

    config: Config
    out_dim: int

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        dtypes = _dtypes(cfg)
        if cfg.architecture == "conv":
            h = x
            for i in range(cfg.num_conv_layers):
                axes = ("embed" if i else None, "hidden")  # the image's channels: no name
                h = _conv(cfg.conv_features * 2**i, axes, f"conv_{i}", cfg)(h)
                h = nn.gelu(h)
            h = h.reshape(h.shape[0], -1)
            in_axis = "hidden"
        else:
            h = x.reshape(x.shape[0], -1)
            for i in range(cfg.num_layers):
                axes = ("embed", "hidden")
                h = dense_2d(h.shape[-1], cfg.hidden_dim, axes, f"hidden_{i}", **dtypes)(h)
                h = nn.with_logical_constraint(nn.gelu(h), ("batch", "hidden"))
            in_axis = "hidden" if cfg.num_layers else "embed"
        code = dense_2d(h.shape[-1], self.out_dim, (in_axis, "latent"), "code", **dtypes)(h)
        return code.astype(jnp.float32)


class Decoder(nn.Module):
    """Code [B, Z] -> output [B, H, W, C] (image values or logits); mirrors `Encoder`."""

    config: Config

    @nn.compact
    def __call__(self, z):
        cfg = self.config
        dtypes = _dtypes(cfg)
        size, c = cfg.image_size, cfg.channels
        if cfg.architecture == "conv":
            n = cfg.num_conv_layers
            side, features = size // 2**n, cfg.conv_features * 2 ** (n - 1)
            axes = ("latent", "hidden")
            h = dense_2d(z.shape[-1], side * side * features, axes, "project", **dtypes)(z)
            h = nn.gelu(h).reshape(z.shape[0], side, side, features)
            for i in reversed(range(n)):
                out = c if i == 0 else cfg.conv_features * 2 ** (i - 1)
                axes = ("embed", "hidden" if i else None)  # the image's channels: no name
                h = _conv(out, axes, f"deconv_{i}", cfg, transpose=True)(h)
                h = nn.gelu(h) if i else h
            return h.astype(jnp.float32)
        h = z
        for i in range(cfg.num_layers):
            axes = ("embed" if i else "latent", "hidden")
            h = dense_2d(h.shape[-1], cfg.hidden_dim, axes, f"hidden_{i}", **dtypes)(h)
            h = nn.with_logical_constraint(nn.gelu(h), ("batch", "hidden"))
        in_axis = "hidden" if cfg.num_layers else "latent"
        h = dense_2d(h.shape[-1], size * size * c, (in_axis, "embed"), "out", **dtypes)(h)
        return h.reshape(z.shape[0], size, size, c).astype(jnp.float32)


def top_k_mask(z, k: int) -> jax.Array:
    """1.0 at the k largest entries of each row of z, 0.0 elsewhere (ties: lower index first).

    Shapes: [B, Z] -> float32 [B, Z]; every row sums to exactly k. The k-sparse code is
    z * top_k_mask(z, k), with the mask held constant in the gradient (Makhzani and Frey, 2013).
    `research.train.sparsity` re-exports it: this is its one home, since models do not import train.
    """
    if jnp.ndim(z) != 2:
        raise ValueError(f"codes must be [B, Z], got shape {jnp.shape(z)}; flatten them first.")
    if not 0 < k <= z.shape[-1]:
        raise ValueError(f"top-k needs 0 < k <= {z.shape[-1]} latent units, got k={k}.")
    _, idx = jax.lax.top_k(jnp.asarray(z, jnp.float32), k)
    return jnp.sum(jax.nn.one_hot(idx, z.shape[-1], dtype=jnp.float32), axis=-2)


def check_images(x, cfg) -> None:
    want = (cfg.image_size, cfg.image_size, cfg.channels)
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(
            f"images must be [B, {want[0]}, {want[1]}, {want[2]}] (image_size, channels of the "
            f"Config), got shape {x.shape}; reshape the data or set image_size/channels."
        )


def to_image(output, loss: str) -> jax.Array:
    """The decoder's output as an image: sigmoid of logits for 'bernoulli', itself for 'mse'."""
    return nn.sigmoid(output) if loss == "bernoulli" else output


class Model(nn.Module):
    config: Config

    def setup(self):
        cfg = self.config
        self.encoder = Encoder(cfg, cfg.latent_dim)
        self.decoder = Decoder(cfg)

    def encode(self, x):
        """Images [B, H, W, C] -> code z [B, Z] (after the code activation and top-k)."""
        check_images(x, self.config)
        z = CODE_ACTIVATIONS[self.config.code_activation](self.encoder(x.astype(jnp.float32)))
        if self.config.top_k:
            z = z * jax.lax.stop_gradient(top_k_mask(z, self.config.top_k)).astype(z.dtype)
        return nn.with_logical_constraint(z, ("batch", "latent"))

    def decode(self, z):
        """Code [B, Z] -> decoder output [B, H, W, C] (logits for 'bernoulli')."""
        return self.decoder(z)

    def __call__(self, x, *, train: bool = False):
        """x [B, H, W, C] -> {'output': [B, H, W, C], 'image': [B, H, W, C], 'code': [B, Z]}.

        'output' is what the loss compares (logits for 'bernoulli'), 'image' the reconstruction.
        """
        del train  # no dropout or batch statistics
        z = self.encode(x)
        output = self.decode(z)
        return {"output": output, "image": to_image(output, self.config.loss), "code": z}


def num_params(config: Config) -> int:
    """Parameter count, from shapes only."""
    x = jnp.zeros((1, config.image_size, config.image_size, config.channels))
    shapes = jax.eval_shape(lambda: Model(config).init(jax.random.key(0), x))
    return sum(math.prod(a.shape) for a in jax.tree.leaves(nn.unbox(shapes["params"])))


make = contract.maker("autoencoder", Config, VARIANTS, Model)
