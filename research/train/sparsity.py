"""Sparsity for autoencoder codes: an L1 activity penalty, the KL sparsity penalty toward a target
rate, and a top-k code (Ng's sparse autoencoder notes; Makhzani and Frey, "k-Sparse Autoencoders").

Codes z are [B, Z] (Z latent units). The KL penalty compares each unit's mean activation over the
batch, rho_hat_j in (0, 1) (sigmoid units), with the target rate rho:
  sum_j rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)).
"""

import jax
import jax.numpy as jnp

from research.models.autoencoder import top_k_mask  # its one home; the model's encoder uses it

__all__ = [
    "inactive_fraction",
    "kl_sparsity",
    "l1_activity",
    "mean_activation",
    "top_k",
    "top_k_mask",
]

_EPS = 1e-6  # keeps log(rho_hat) finite when a unit is always off or always on


def _check_codes(z) -> None:
    if jnp.ndim(z) != 2:
        raise ValueError(f"codes must be [B, Z], got shape {jnp.shape(z)}; flatten them first.")


def l1_activity(z) -> jax.Array:
    """sum_j |z_j| per example. Shape: [B, Z] -> [B]."""
    _check_codes(z)
    return jnp.sum(jnp.abs(jnp.asarray(z, jnp.float32)), axis=-1)


def mean_activation(z, weights=None) -> jax.Array:
    """rho_hat: each unit's weighted mean activation over the batch. Shape: [B, Z] -> [Z]."""
    _check_codes(z)
    z = jnp.asarray(z, jnp.float32)
    w = jnp.ones(z.shape[:1], jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)
    return jnp.sum(z * w[:, None], axis=0) / jnp.maximum(jnp.sum(w), 1.0)


def kl_sparsity(rho: float, rho_hat) -> jax.Array:
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) in nats. Shape: [Z] -> scalar.

    rho must lie in (0, 1); rho_hat is clipped to [1e-6, 1 - 1e-6].
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"sparsity target rho={rho} must lie in (0, 1); pass e.g. 0.05.")
    rho_hat = jnp.clip(jnp.asarray(rho_hat, jnp.float32), _EPS, 1.0 - _EPS)
    return jnp.sum(
        rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat))
    )


def top_k(z, k: int) -> jax.Array:
    """z with all but its k largest entries per row set to 0; gradients flow to the kept ones.
    Shape: [B, Z] -> [B, Z]."""
    return z * jax.lax.stop_gradient(top_k_mask(z, k)).astype(z.dtype)


def inactive_fraction(z, threshold: float = 1e-2, weights=None) -> tuple[jax.Array, jax.Array]:
    """A (total, count) pair: how many code entries have |z| < threshold, out of B * Z (weighted).

    Shape: [B, Z] -> (scalar, scalar).
    """
    _check_codes(z)
    off = (jnp.abs(jnp.asarray(z, jnp.float32)) < threshold).astype(jnp.float32)
    w = jnp.ones(z.shape[:1], jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)
    return jnp.sum(off * w[:, None]), jnp.sum(w) * z.shape[-1]
