"""Negative sampling (Mikolov et al. 2013): draws from the unigram^0.75 table and the loss, in JAX.

For an input vector h (a word's row, or the mean of its context rows), the output row u_o of the
true target and K output rows u_k of words drawn from the noise distribution:

  loss = -( log sigmoid(u_o . h) + sum_k log sigmoid(-u_k . h) )

A drawn negative equal to the target is skipped, as word2vec.c and gensim skip it.
"""

import jax
import jax.numpy as jnp


def sample_negatives(rng: jax.Array, table: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Word ids int32 [*shape] drawn from the cumulative table float [V] (`unigram_table`).

    u ~ uniform[0, 1); the id is the first i with table[i] > u (searchsorted, side='right').
    """
    u = jax.random.uniform(rng, shape, jnp.float32)
    ids = jnp.searchsorted(table, u, side="right")
    return jnp.minimum(ids, table.shape[0] - 1).astype(jnp.int32)


def negative_sampling_loss(positive: jax.Array, negative: jax.Array, negative_mask: jax.Array):
    """Per-example loss float32 [B] from logits positive [B] = u_o . h and negative [B, K] = u_k . h.

    negative_mask [B, K]: 1 for a counted negative, 0 for one skipped (it equals the target).
    """
    positive = positive.astype(jnp.float32)
    negative = negative.astype(jnp.float32)
    noise = jnp.sum(negative_mask * jax.nn.log_sigmoid(-negative), axis=-1)
    return -(jax.nn.log_sigmoid(positive) + noise)


def average_rows(rows: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked mean of rows [..., n, D] over n (mask [..., n]) -> [..., D], with word2vec's update.

    The forward value is the mean over the rows with mask 1 (CBOW's `cbow_mean=1`, FastText's
    word-and-n-gram average). The gradient reaching each averaged row is the gradient of the mean
    itself, not divided by the count: word2vec.c, fastText and gensim add the whole error `neu1e`
    to every input row, and so does SGD here.
    """
    mask = mask.astype(rows.dtype)[..., None]
    total = jnp.sum(rows * mask, axis=-2)
    mean = total / jnp.maximum(jnp.sum(mask, axis=-2), 1.0)
    return total + jax.lax.stop_gradient(mean - total)
