"""Losses with masks, returned as (sum, weight) pairs so averages over batches and steps are exact.

A metric is a pair `(total, count)`: the mean is `total / count`. Summing pairs over evaluation batches
(padded rows carry weight 0) gives the exact mean over the data, independent of batch boundaries.
"""

import jax
import jax.numpy as jnp


def softmax_cross_entropy(logits, targets, weights=None) -> tuple[jax.Array, jax.Array]:
    """Summed cross-entropy in nats and the number of weighted targets.

    Shapes: logits [..., V] (any float dtype; computed in float32), targets int [...],
    weights [...] or None (all ones).
    """
    logits = logits.astype(jnp.float32)
    log_z = jax.nn.logsumexp(logits, axis=-1)
    # The target's logit by comparison with an iota rather than a gather: the same value exactly,
    # and the backward pass stays elementwise (softmax - one-hot, one fused pass over [..., V])
    # instead of a scatter into a zeroed [..., V] buffer and a second pass (GPT-2 small on a GPU:
    # 3.3 GB per pass in float32). Ids index as the gather did: a negative id counts from the end,
    # an id outside [-V, V) gives NaN.
    vocab = logits.shape[-1]
    targets = jnp.where(targets < 0, targets + vocab, targets)
    hit = targets[..., None] == jnp.arange(vocab, dtype=targets.dtype)
    target_logit = jnp.sum(jnp.where(hit, logits, 0.0), axis=-1)
    target_logit = jnp.where((targets >= 0) & (targets < vocab), target_logit, jnp.nan)
    nll = log_z - target_logit
    if weights is None:
        weights = jnp.ones_like(nll)
    weights = weights.astype(jnp.float32)
    return jnp.sum(nll * weights), jnp.sum(weights)


def accuracy(logits, targets, weights=None) -> tuple[jax.Array, jax.Array]:
    """Number of weighted targets where argmax(logits) == target, and their total weight."""
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    if weights is None:
        weights = jnp.ones_like(correct)
    weights = weights.astype(jnp.float32)
    return jnp.sum(correct * weights), jnp.sum(weights)


def squared_error(predictions, targets, weights=None) -> tuple[jax.Array, jax.Array]:
    """Summed squared error over the feature axis, per example, and the total example weight.

    Shapes: predictions, targets [B, ...]; weights [B] or None.
    """
    err = jnp.square(predictions.astype(jnp.float32) - targets.astype(jnp.float32))
    per_example = jnp.sum(err.reshape(err.shape[0], -1), axis=-1)
    if weights is None:
        weights = jnp.ones_like(per_example)
    weights = weights.astype(jnp.float32)
    return jnp.sum(per_example * weights), jnp.sum(weights)


def classification_loss(logits, targets, weights=None) -> tuple[jax.Array, dict]:
    """Mean cross-entropy to minimise, with 'loss' and 'accuracy' metric pairs: a `Task.loss_fn` tail.

    Shapes: logits [..., V], targets int [...], weights [...] or None.
    """
    loss_sum, count = softmax_cross_entropy(logits, targets, weights)
    return loss_sum / count, {
        "loss": (loss_sum, count),
        "accuracy": accuracy(logits, targets, weights),
    }
