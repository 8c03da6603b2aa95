"""The causal (next-token) language-model objective, with the shift inside (GPT; Radford et al.,
2018, section 3.1): the logits at position t score the token at t + 1, so a model's logits [B,T,V]
over `tokens` [B,T] give T - 1 predictions per row: logits[:, :-1] against tokens[:, 1:].

`weights` [B,T] mark which TARGET positions count, indexed like `tokens`: weights[:, t] scales the
prediction of tokens[:, t] (made from logits[:, t - 1]); weights[:, 0] is ignored, since nothing
predicts the first token. Padding gets weight 0; prompt-masked fine-tuning (only the completion is
learned, the prompt is context) uses `completion_weights`. The loss and metrics follow
`research.train.losses`: (total, count) pairs, so averages over batches are exact.
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.train.losses import classification_loss


def causal_lm_loss(logits, tokens, weights=None) -> tuple[jax.Array, dict]:
    """Mean next-token cross-entropy, with 'loss' and 'accuracy' metric pairs over the weighted
    targets: a `Task.loss_fn` tail.

    Shapes: logits [B,T,V] (the model's output on `tokens`), tokens int [B,T], weights [B,T] on
    target positions (see the module docstring) or None (every target after the first token).
    """
    if logits.ndim != 3 or logits.shape[:2] != tokens.shape:
        raise ValueError(
            f"logits must be [B,T,V] over tokens [B,T]; got logits {logits.shape} and tokens "
            f"{tokens.shape}. Pass the model's logits on the same tokens (the shift is done here)."
        )
    if tokens.shape[1] < 2:
        raise ValueError(
            f"tokens have length {tokens.shape[1]}; next-token prediction needs at least 2 per row."
        )
    if weights is not None and jnp.shape(weights) != tokens.shape:
        raise ValueError(
            f"weights must have the tokens' shape {tokens.shape} (one per target position), got "
            f"{jnp.shape(weights)}."
        )
    target_weights = None if weights is None else weights[:, 1:]
    return classification_loss(logits[:, :-1], tokens[:, 1:], target_weights)


def completion_weights(prompt_lengths, lengths, length: int) -> jax.Array:
    """float32 [B, length]: 1 at target positions prompt_lengths[b] <= t < lengths[b], else 0.

    A row is prompt + completion + padding: its first `prompt_lengths[b]` tokens are context
    (never learned), the tokens up to `lengths[b]` (exclusive; the completion, its EOS included)
    are learned, the rest is padding. Shapes: prompt_lengths, lengths int [B].
    Concrete lengths are checked: 1 <= prompt_length <= length <= `length`.
    """
    prompt_lengths, lengths = jnp.asarray(prompt_lengths), jnp.asarray(lengths)
    if prompt_lengths.shape != lengths.shape or prompt_lengths.ndim != 1:
        raise ValueError(
            f"prompt_lengths and lengths must both be int [B]; got shapes {prompt_lengths.shape} "
            f"and {lengths.shape}."
        )
    if not isinstance(prompt_lengths, jax.core.Tracer) and not isinstance(lengths, jax.core.Tracer):
        p, n = np.asarray(prompt_lengths), np.asarray(lengths)
        if np.any(p < 1) or np.any(p > n) or np.any(n > length):
            raise ValueError(
                f"Each row needs 1 <= prompt_length <= length <= {length} (the first token is "
                f"never a target); got prompt_lengths {p.tolist()} and lengths {n.tolist()}."
            )
    positions = jnp.arange(length)[None, :]
    inside = (positions >= prompt_lengths[:, None]) & (positions < lengths[:, None])
    return inside.astype(jnp.float32)
