"""The masked-language-model objective (BERT; Devlin et al., 2019, section 3.1 and appendix A.1).

Each eligible token (not padding, not a special id) is selected with probability `rate` (15%),
independently. A selected token is replaced by the mask id with probability `mask_fraction` (80%),
by a uniformly drawn non-special id with probability `random_fraction` (10%), and left unchanged
otherwise (10%); the model must predict the original token at every selected position, and only
there. The random and unchanged cases keep the model from learning that only [MASK] positions
matter (the fine-tuning inputs never contain [MASK]).

`corrupt` is the deterministic math given the uniform draws (hand-checkable); `mask_tokens` draws
them from an rng. `masked_lm_loss` is the cross-entropy over the selected positions, as
`(total, count)` metric pairs (`research.train.losses`).
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.train.losses import accuracy, softmax_cross_entropy


def _check(vocab_size, mask_id, special_ids, rate, mask_fraction, random_fraction) -> np.ndarray:
    """The candidate replacement ids (every non-special id), after checking the arguments."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate={rate} must lie in [0, 1]; BERT uses 0.15.")
    if mask_fraction < 0 or random_fraction < 0 or mask_fraction + random_fraction > 1:
        raise ValueError(
            f"mask_fraction={mask_fraction} and random_fraction={random_fraction} must be "
            "non-negative with a sum of at most 1 (the rest stays unchanged); BERT uses 0.8 and 0.1."
        )
    if not 0 <= mask_id < vocab_size:
        raise ValueError(
            f"mask_id={mask_id} is outside [0, vocab_size={vocab_size}); pass the tokenizer's "
            "mask id and the model's vocab_size."
        )
    candidates = np.setdiff1d(np.arange(vocab_size), np.asarray([mask_id, *special_ids], int))
    if candidates.size == 0:
        raise ValueError(
            f"every id of vocab_size={vocab_size} is special, so no random replacement exists; "
            "check special_ids."
        )
    return candidates.astype(np.int32)


def eligible_positions(tokens, *, special_ids=(), valid=None):
    """bool [B,T]: positions that may be selected (valid, and not one of `special_ids`)."""
    eligible = jnp.ones(tokens.shape, bool) if valid is None else jnp.asarray(valid).astype(bool)
    for special in special_ids:
        eligible = eligible & (tokens != special)
    return eligible


def corrupt(
    tokens,
    eligible,
    select_u,
    action_u,
    random_ids,
    *,
    mask_id: int,
    rate: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
):
    """(inputs, targets, weights) from the uniform draws; no randomness inside.

    Shapes: tokens int [B,T], eligible bool [B,T], select_u and action_u float in [0, 1) [B,T],
    random_ids int [B,T] (the replacement of the 'random' case) -> inputs int32 [B,T],
    targets int32 [B,T] (= tokens), weights float32 [B,T] (1 at the selected positions).

    Selected: eligible and select_u < rate. Then action_u < mask_fraction -> mask_id;
    < mask_fraction + random_fraction -> random_ids; otherwise the token itself.
    """
    tokens = jnp.asarray(tokens, jnp.int32)
    selected = jnp.asarray(eligible, bool) & (select_u < rate)
    replacement = jnp.where(
        action_u < mask_fraction,
        mask_id,
        jnp.where(action_u < mask_fraction + random_fraction, random_ids, tokens),
    )
    inputs = jnp.where(selected, replacement, tokens).astype(jnp.int32)
    return inputs, tokens, selected.astype(jnp.float32)


def mask_tokens(
    rng,
    tokens,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids=(),
    valid=None,
    rate: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
):
    """BERT's masking of a batch: (inputs, targets, weights), see `corrupt`.

    Shapes: tokens int [B,T], valid bool/int [B,T] or None (1 = a real token; padding never
    selected) -> inputs int32 [B,T], targets int32 [B,T], weights float32 [B,T].

    special_ids: ids never selected (pad, [CLS], [SEP], ...) nor drawn as random replacements;
    mask_id is never drawn either. Works under jit (`special_ids` must be a static tuple).
    """
    candidates = _check(vocab_size, mask_id, special_ids, rate, mask_fraction, random_fraction)
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be int[B,T], got shape {tokens.shape}.")
    if valid is not None and jnp.shape(valid) != tokens.shape:
        raise ValueError(f"valid must have the shape of tokens {tokens.shape}, got {valid.shape}.")
    select_rng, action_rng, random_rng = jax.random.split(rng, 3)
    select_u = jax.random.uniform(select_rng, tokens.shape)
    action_u = jax.random.uniform(action_rng, tokens.shape)
    picks = jax.random.randint(random_rng, tokens.shape, 0, len(candidates))
    random_ids = jnp.asarray(candidates)[picks]
    eligible = eligible_positions(tokens, special_ids=special_ids, valid=valid)
    return corrupt(
        tokens, eligible, select_u, action_u, random_ids, mask_id=mask_id, rate=rate,
        mask_fraction=mask_fraction, random_fraction=random_fraction,
    )  # fmt: skip


def masked_lm_loss(logits, targets, weights) -> tuple[jax.Array, dict]:
    """Mean cross-entropy over the selected positions, with 'loss' and 'accuracy' metric pairs.

    Shapes: logits [B,T,V], targets int [B,T], weights [B,T] (1 = selected). A batch with no
    selected position has loss 0 (not NaN) and count 0, so exact averages over batches hold.
    """
    total, count = softmax_cross_entropy(logits, targets, weights)
    return total / jnp.maximum(count, 1.0), {
        "loss": (total, count),
        "accuracy": accuracy(logits, targets, weights),
    }
