"""The evidence lower bound of a variational autoencoder with a diagonal Gaussian encoder.

  log p(x) >= ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)),  p(z) = N(0, I)

with equality exactly when q(z|x) is the true posterior p(z|x) (Kingma and Welling, 2014). The KL of
two diagonal Gaussians has a closed form, so only the reconstruction term is estimated by sampling
(`reparameterize`, from research/models/vae.py; one sample per example in training). beta-VAE (Higgins et al., 2017) weights the
KL: the objective to minimise is reconstruction NLL + beta * KL, a bound only when beta == 1.
"""

import jax
import jax.numpy as jnp

from research.models.vae import reparameterize  # its one home; the model's forward uses it

__all__ = ["elbo", "gaussian_kl", "reparameterize"]


def gaussian_kl(mean, logvar, prior_mean=0.0, prior_logvar=0.0) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(prior_mean, exp(prior_logvar))) of diagonal Gaussians in nats,
    summed over the last axis. Shapes: [..., Z] (priors broadcast) -> [...]; the default prior is
    the standard normal, where it is 0.5 * sum(exp(logvar) + mean^2 - 1 - logvar)."""
    mean, logvar = jnp.asarray(mean, jnp.float32), jnp.asarray(logvar, jnp.float32)
    var_ratio = jnp.exp(logvar - prior_logvar)
    mahalanobis = jnp.square(mean - prior_mean) * jnp.exp(-jnp.asarray(prior_logvar, jnp.float32))
    return 0.5 * jnp.sum(var_ratio + mahalanobis - 1.0 - logvar + prior_logvar, axis=-1)


def elbo(reconstruction_nll, kl, beta: float = 1.0) -> jax.Array:
    """Per-example objective -(reconstruction NLL) - beta * KL, in nats; with beta = 1 the ELBO.

    Shapes: [B], [B] -> [B]. The negative of its mean is the loss; report the two terms separately.
    """
    if jnp.shape(reconstruction_nll) != jnp.shape(kl):
        raise ValueError(
            f"reconstruction_nll {jnp.shape(reconstruction_nll)} and kl {jnp.shape(kl)} must both "
            "be per-example vectors [B]; sum each over its pixels or latent units first."
        )
    return -reconstruction_nll - beta * kl
