"""The autoencoder objectives, composed from the loss pieces: reconstruction (classic, denoising,
sparse autoencoders) and the negative ELBO (VAE). Variants are data: an experiment picks one by
name and passes its settings, which are objective settings, not model fields.

    loss, metrics, outputs, inputs = OBJECTIVES[name](model, params, images, rng, weights, **settings)

Shapes: images [B, H, W, C] in [0, 1], weights [B] (0 for padding rows) -> loss a scalar, metrics
{name: (weighted sum, count)} pairs, outputs the model's dict, inputs [B, H, W, C] what the model saw.

'reconstruction' (a `research/models/autoencoder.py` model): the model sees
  `corruption.corrupt(noise_rng, images, corruption, corruption_rate)` and the target is the clean
  image (a denoiser when corruption != 'none'); per image, squared error or Bernoulli NLL (the
  model's `loss`: what its output is), plus l1_weight * L1 activity of the code; plus, per batch,
  kl_weight * KL(sparsity_target || mean activation of each code unit).
'elbo' (a `research/models/vae.py` model): reconstruction NLL under the model's `likelihood`
  (Gaussian with std decoder_std, or Bernoulli) + beta * KL(q(z|x) || N(0, I)); the noise of the
  reparameterization is drawn from `rng`. Metric 'nelbo' is the bound itself (beta = 1).

`rng` is split into (noise, sample) keys once, so a resumed run draws the same noise.
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.data import corruption as corruptions
from research.train.elbo import elbo as elbo_value
from research.train.elbo import gaussian_kl
from research.train.reconstruction import bernoulli_nll, gaussian_nll, mean_pair, psnr, sse
from research.train.sparsity import inactive_fraction, kl_sparsity, l1_activity, mean_activation

INACTIVE_BELOW = 1e-2  # a code unit with |z| below this counts as inactive


def _image_metrics(outputs, images, weights) -> dict:
    pixels = int(np.prod(images.shape[1:]))
    return {
        "mse": mean_pair(sse(outputs["image"], images), weights, size=pixels),
        "psnr": mean_pair(psnr(outputs["image"], images), weights),
    }


def _output_kind(model, field: str, objective: str, like: str) -> str:
    """The model Config's `field`, which says what its output is; refused when it has none."""
    value = getattr(model.config, field, None)
    if value is None:
        raise ValueError(
            f"The {objective!r} objective needs a model like {like} (its Config's {field!r} says "
            f"what the output is), got {type(model).__module__}; set --config.objective.name or "
            "--config.model_name to match."
        )
    return value


def _loss(per_example, weights, metrics, penalty=0.0):
    total, count = mean_pair(per_example, weights)
    loss = total / count + penalty
    metrics["loss"] = (loss * count, count)
    return loss


def reconstruction(
    model, params, images, rng, weights, *, corruption="none", corruption_rate=0.0,
    l1_weight=0.0, kl_weight=0.0, sparsity_target=0.05,
):  # fmt: skip
    """(loss, metrics, outputs, inputs) of a (denoising, sparse) autoencoder; see the module doc."""
    loss = _output_kind(model, "loss", "reconstruction", "research/models/autoencoder.py")
    noise_rng, _ = jax.random.split(rng)
    inputs = corruptions.corrupt(noise_rng, images, corruption, corruption_rate)
    outputs = model.apply({"params": params}, inputs)
    metrics = _image_metrics(outputs, images, weights)
    if loss == "bernoulli":
        per_example = bernoulli_nll(outputs["output"], images)
        metrics["bernoulli_nll"] = mean_pair(per_example, weights)
    else:
        per_example = sse(outputs["output"], images)
    code = outputs["code"]
    if l1_weight:
        l1 = l1_activity(code)
        metrics["l1"] = mean_pair(l1, weights)
        per_example = per_example + l1_weight * l1
    penalty = 0.0
    if kl_weight:
        kl = kl_sparsity(sparsity_target, mean_activation(code, weights))
        metrics["sparsity_kl"] = (kl * jnp.sum(weights), jnp.sum(weights))
        penalty = kl_weight * kl
    metrics["mean_activation"] = mean_pair(jnp.mean(code, axis=-1), weights)
    metrics["inactive"] = inactive_fraction(code, INACTIVE_BELOW, weights)
    if corruption != "none":
        metrics["noisy_psnr"] = mean_pair(psnr(inputs, images), weights)
    return _loss(per_example, weights, metrics, penalty), metrics, outputs, inputs


def elbo(model, params, images, rng, weights, *, beta=1.0, decoder_std=0.1):
    """(loss, metrics, outputs, inputs) of a VAE: -ELBO with KL weight beta; see the module doc."""
    if not decoder_std > 0:
        raise ValueError(f"decoder_std={decoder_std} must be positive, e.g. 0.1.")
    likelihood = _output_kind(model, "likelihood", "elbo", "research/models/vae.py")
    _, sample_rng = jax.random.split(rng)
    outputs = model.apply({"params": params}, images, sample_rng)
    metrics = _image_metrics(outputs, images, weights)
    if likelihood == "bernoulli":
        nll = bernoulli_nll(outputs["output"], images)
    else:
        nll = gaussian_nll(outputs["output"], images, decoder_std)
    kl = gaussian_kl(outputs["mean"], outputs["logvar"])
    per_example = -elbo_value(nll, kl, beta)
    metrics["nelbo"] = mean_pair(nll + kl, weights)  # beta = 1: the bound, nats per image
    metrics["reconstruction"] = mean_pair(nll, weights)
    metrics["kl"] = mean_pair(kl, weights)
    return _loss(per_example, weights, metrics), metrics, outputs, images


OBJECTIVES = {"reconstruction": reconstruction, "elbo": elbo}
