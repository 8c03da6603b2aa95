"""Losses with masks, returned as (sum, weight) pairs so averages over batches and steps are exact.

A metric is a pair `(total, count)`: the mean is `total / count`. Summing pairs over evaluation batches
(padded rows carry weight 0) gives the exact mean over the data, independent of batch boundaries.
"""

import jax
import jax.numpy as jnp


def softmax_cross_entropy(logits, targets, weights=None) -> tuple[jax.Array, jax.Array]:
    """Summed cross-entropy in nats and the number of weighted targets.

    Shapes: logits [..., V] (any float dtype; computed in float32), targets int [...],
    weights [...] or None (all ones). Targets index as a gather would: a negative id counts from
    the end, an id outside [-V, V) gives NaN.
    """
    logits = logits.astype(jnp.float32)
    vocab = logits.shape[-1]
    targets = jnp.where(targets < 0, targets + vocab, targets)
    nll = jax.lax.platform_dependent(logits, targets, cpu=_nll_autodiff, default=_nll)
    nll = jnp.where((targets >= 0) & (targets < vocab), nll, jnp.nan)
    if weights is None:
        weights = jnp.ones_like(nll)
    weights = weights.astype(jnp.float32)
    return jnp.sum(nll * weights), jnp.sum(weights)


def _is_target(targets, vocab: int):
    """bool [..., V]: True at each row's target id (an iota comparison, no gather)."""
    return targets[..., None] == jnp.arange(vocab, dtype=targets.dtype)


def _nll_autodiff(logits, targets):
    """`_nll` by autodiff of logsumexp and an iota pick of the target logit: the CPU path.

    XLA's CPU backend runs this faster than `_nll` (0.57 ms against 0.83 ms for [4096, 257] logits,
    230 ms against 540 ms for [2048, 50257], forward and backward): it vectorizes the variadic
    reduction and the custom backward less well.
    """
    hit = _is_target(targets, logits.shape[-1])
    return jax.nn.logsumexp(logits, axis=-1) - jnp.sum(jnp.where(hit, logits, 0.0), axis=-1)


@jax.custom_vjp
def _nll(logits, targets):
    """-log softmax(logits)[target]: float32 logits [..., V], int targets [...] -> [...].

    The accelerator path. Two passes over the logits, however large V: their maximum m, then one
    variadic reduction carrying two sums, sum(exp(logits - m)) and the target's logit picked by
    comparing an iota with the target (no gather). The backward pass is one elementwise pass,
    g * (softmax - one_hot), which XLA fuses with the cast and padding of the output layer's
    cotangent. GPT-2 small on an H200 ([16384, 50257] float32 logits, 3.3 GB a pass): the loss
    takes 3.07 ms of the step, against 3.84 ms for `_nll_autodiff` (a third pass for the pick)
    and 4.7 ms for autodiff of logsumexp and a gather (its backward scatters the one-hot into a
    zeroed buffer and pads in a separate pass).
    """
    return _nll_fwd(logits, targets)[0]


def _nll_fwd(logits, targets):
    peak = jnp.max(logits, axis=-1, keepdims=True)
    peak = jnp.where(jnp.isfinite(peak), peak, 0.0)  # an all -inf row: no NaN from -inf - -inf
    shifted = logits - peak
    hit = _is_target(targets, logits.shape[-1])
    sum_exp, target_shifted = jax.lax.reduce(
        (jnp.exp(shifted), jnp.where(hit, shifted, 0.0)),
        (jnp.float32(0), jnp.float32(0)),
        lambda a, b: (a[0] + b[0], a[1] + b[1]),
        (logits.ndim - 1,),
    )
    log_sum = jnp.log(sum_exp)
    return log_sum - target_shifted, (logits, peak[..., 0] + log_sum, targets)


def _nll_bwd(residuals, g):
    logits, log_z, targets = residuals
    hit = _is_target(targets, logits.shape[-1])
    dlogits = g[..., None] * (jnp.exp(logits - log_z[..., None]) - hit)
    return dlogits, None


_nll.defvjp(_nll_fwd, _nll_bwd)


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
