"""Reconstruction objectives for autoencoders: squared error, Bernoulli and Gaussian negative
log-likelihoods, and PSNR, per example, plus the (total, count) metric pair the loop averages.

Every per-example function takes images (or any [B, ...] arrays) and sums over all non-batch axes,
so the value is "per image": nats per image for the likelihoods, squared error per image for `sse`.
Computation is float32 whatever the input dtype.
"""

import math

import jax
import jax.numpy as jnp


def _flat(x) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    if x.ndim < 1:
        raise ValueError(f"expected a batch [B, ...], got a scalar of shape {x.shape}.")
    return x.reshape(x.shape[0], -1)


def _check_same_shape(a, b, names: str) -> None:
    if jnp.shape(a) != jnp.shape(b):
        raise ValueError(
            f"{names} must have the same shape, got {jnp.shape(a)} and {jnp.shape(b)}; pass "
            "the model's output for exactly the images it reconstructs."
        )


def sse(predictions, targets) -> jax.Array:
    """Sum of squared errors per example. Shapes: [B, ...], [B, ...] -> [B]."""
    _check_same_shape(predictions, targets, "predictions and targets")
    return jnp.sum(jnp.square(_flat(predictions) - _flat(targets)), axis=-1)


def bernoulli_nll(logits, targets) -> jax.Array:
    """-log Bernoulli(targets | sigmoid(logits)) summed per example, in nats; targets in [0, 1].

    Shapes: [B, ...], [B, ...] -> [B]. Stable form softplus(l) - t * l (sigmoid cross-entropy on
    logits), so saturated logits give finite values and gradients. Targets strictly between 0 and 1
    are allowed (the cross-entropy of grey pixels), but then the value is not a log-likelihood.
    """
    _check_same_shape(logits, targets, "logits and targets")
    logits, targets = _flat(logits), _flat(targets)
    return jnp.sum(jax.nn.softplus(logits) - targets * logits, axis=-1)


def gaussian_nll(mean, targets, std) -> jax.Array:
    """-log N(targets | mean, std^2 I) summed per example, in nats. Shapes: [B, ...] -> [B].

    `std` is a positive scalar (a fixed decoder noise level) or an array broadcastable to `mean`.
    """
    _check_same_shape(mean, targets, "mean and targets")
    std = jnp.broadcast_to(jnp.asarray(std, jnp.float32), jnp.shape(mean))
    z = (_flat(targets) - _flat(mean)) / _flat(std)
    return jnp.sum(0.5 * jnp.square(z) + jnp.log(_flat(std)) + 0.5 * math.log(2 * math.pi), -1)


def psnr(predictions, targets, max_value: float = 1.0) -> jax.Array:
    """Peak signal-to-noise ratio per example in dB: 10 log10(max_value^2 / per-pixel MSE).

    Shapes: [B, ...], [B, ...] -> [B]; a perfect reconstruction gives +inf.
    """
    mse = sse(predictions, targets) / _flat(targets).shape[1]
    return 10.0 * jnp.log10(max_value**2 / mse)


def mean_pair(values, weights=None, size: int = 1) -> tuple[jax.Array, jax.Array]:
    """A (total, count) metric pair: the weighted sum of per-example `values` [B] and the weight,
    times `size` (e.g. pixels per image, to average a per-image sum per pixel)."""
    values = jnp.asarray(values, jnp.float32)
    if weights is None:
        weights = jnp.ones_like(values)
    weights = jnp.asarray(weights, jnp.float32)
    return jnp.sum(values * weights), jnp.sum(weights) * size
