"""Variational autoencoder (Kingma and Welling, 2014) on images, with the autoencoder's encoder and
decoder.

  x [B, H, W, C] -> Encoder -> [mean | logvar] [B, 2Z] -> z = mean + exp(logvar / 2) * eps [B, Z]
    -> Decoder -> output [B, H, W, C]

The encoder is `autoencoder.Encoder` with 2 * latent_dim outputs (first half the posterior mean,
second half its log-variance), the decoder `autoencoder.Decoder`: dense or convolutional exactly as
in research/models/autoencoder.py, under the same parameter names and logical axes.

The decoder's likelihood p(x | z) is 'bernoulli' (output is per-pixel logits) or 'gaussian' (output is
the mean). The objective, `research/train/autoencoder_objectives.elbo`, is reconstruction NLL +
beta * KL(q(z|x) || N(0, I)) (beta = 1 makes its negative the ELBO); beta and the Gaussian's fixed
standard deviation decoder_std are its settings, not model fields: they change no output.

The noise eps comes from an explicit `rng` argument: `model.apply(variables, x, rng)`; rng=None uses
z = mean (a deterministic reconstruction). `sample_prior` and `interpolate` decode codes from the
prior and along a line between two images' posterior means.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.models import contract
from research.models.autoencoder import (
    Decoder,
    Encoder,
    check_architecture,
    check_images,
    to_image,
)


@dataclasses.dataclass(frozen=True)
class Config:
    image_size: int = 8  # H == W
    channels: int = 1
    architecture: str = "dense"  # 'dense' or 'conv'
    hidden_dim: int = 256  # dense: width of each hidden layer
    num_layers: int = 2  # dense: hidden layers in the encoder (and in the decoder)
    conv_features: int = 32  # conv: features of the first conv layer, doubling per layer
    num_conv_layers: int = 2  # conv: stride-2 layers
    latent_dim: int = 16
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'; the outputs are float32
    param_dtype: str = "float32"
    likelihood: str = "bernoulli"  # 'bernoulli' (the output is logits) or 'gaussian' (the mean)

    def __post_init__(self):
        check_architecture(self)
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(
                f"Unknown likelihood {self.likelihood!r}; choose one of {sorted(LIKELIHOODS)}."
            )


VARIANTS = {
    "digits": dict(architecture="dense", hidden_dim=256, num_layers=2, latent_dim=16),
    "digits_2d": dict(architecture="dense", hidden_dim=256, num_layers=2, latent_dim=2),
    "mnist_conv": dict(
        image_size=28, architecture="conv", conv_features=32, num_conv_layers=2, latent_dim=16
    ),
}

LIKELIHOODS = {"bernoulli": "bernoulli", "gaussian": "mse"}  # -> autoencoder.to_image's loss name


def reparameterize(rng, mean, logvar) -> jax.Array:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I) drawn from `rng`; differentiable in mean
    and logvar. Shapes: [..., Z], [..., Z] -> [..., Z]. (`research.train.elbo` re-exports it.)"""
    if jnp.shape(mean) != jnp.shape(logvar):
        raise ValueError(
            f"mean and logvar must have the same shape, got {jnp.shape(mean)} and "
            f"{jnp.shape(logvar)}; pass the encoder's two outputs."
        )
    eps = jax.random.normal(rng, jnp.shape(mean), jnp.float32)
    return mean + jnp.exp(0.5 * logvar) * eps


class Model(nn.Module):
    config: Config

    def setup(self):
        cfg = self.config
        self.encoder = Encoder(cfg, 2 * cfg.latent_dim)
        self.decoder = Decoder(cfg)

    def encode(self, x):
        """Images [B, H, W, C] -> (mean [B, Z], logvar [B, Z]) of q(z | x)."""
        check_images(x, self.config)
        h = self.encoder(x.astype(jnp.float32))
        mean, logvar = jnp.split(h, 2, axis=-1)
        return mean, logvar

    def decode(self, z):
        """Codes [B, Z] -> decoder output [B, H, W, C]: logits ('bernoulli') or mean ('gaussian')."""
        return self.decoder(z)

    def image(self, z):
        """Codes [B, Z] -> the decoder's mean image [B, H, W, C]."""
        return to_image(self.decode(z), LIKELIHOODS[self.config.likelihood])

    def __call__(self, x, rng=None, *, train: bool = False):
        """x [B, H, W, C] -> {'output', 'image': [B, H, W, C], 'code', 'mean', 'logvar': [B, Z]}.

        'code' is z = reparameterize(rng, mean, logvar), or mean when rng is None.
        """
        del train  # no dropout or batch statistics
        mean, logvar = self.encode(x)
        z = mean if rng is None else reparameterize(rng, mean, logvar)
        z = nn.with_logical_constraint(z, ("batch", "latent"))
        output = self.decode(z)
        image = to_image(output, LIKELIHOODS[self.config.likelihood])
        return {"output": output, "image": image, "code": z, "mean": mean, "logvar": logvar}


def sample_prior(model: Model, params, rng, num: int) -> jax.Array:
    """`num` mean images decoded from z ~ N(0, I). Shape: [num, H, W, C]."""
    z = jax.random.normal(rng, (num, model.config.latent_dim), jnp.float32)
    return model.apply({"params": params}, z, method=Model.image)


def interpolate(model: Model, params, x_a, x_b, num: int) -> jax.Array:
    """Mean images decoded along the straight line between the posterior means of two images.

    Shapes: x_a, x_b [H, W, C] -> [num, H, W, C]; the first is decoded from mean(x_a), the last
    from mean(x_b).
    """
    means, _ = model.apply({"params": params}, jnp.stack([x_a, x_b]), method=Model.encode)
    t = jnp.linspace(0.0, 1.0, num)[:, None]
    z = (1.0 - t) * means[0] + t * means[1]
    return model.apply({"params": params}, z, method=Model.image)


make = contract.maker("vae", Config, VARIANTS, Model)
