"""Choosing the next token from a language model's scores: greedy, temperature, top-k, and
`sample`, which runs them through the decoding protocol (`research.generate.decoding`).

Temperature T divides the logits before the softmax: T < 1 sharpens the distribution towards its
mode, T > 1 flattens it, T -> 0 is greedy decoding. Top-k keeps the k most likely tokens and
renormalizes over them.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from research.generate.decoding import decode


@dataclasses.dataclass(frozen=True)
class TokenChooser:
    """A `select` rule for `decode`: greedy when temperature is 0, else a draw from
    softmax(logits / temperature) restricted to the top_k most likely tokens (all when None).

    Shapes: logits [B,V], rng -> int32[B]. Frozen, so equal rules hash equal and the jitted
    decoding loop compiles once per rule.
    """

    temperature: float = 1.0
    top_k: int | None = None

    def __call__(self, logits, rng):
        if self.temperature == 0:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        logits = logits.astype(jnp.float32) / self.temperature
        if self.top_k is not None:
            kth_largest = jax.lax.top_k(logits, self.top_k)[0][..., -1:]  # [B,1]
            logits = jnp.where(logits < kth_largest, -jnp.inf, logits)
        return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)


def sample(
    model,
    params,
    prompt,
    *,
    num_tokens: int,
    rng,
    temperature: float = 1.0,
    top_k: int | None = None,
    eos_id: int | None = None,
):
    """Extends `prompt` by `num_tokens` tokens, with the model's cache (one forward per token).

    Shapes: prompt int32[P] -> int32[P + num_tokens], or int32[B,P] -> int32[B, P + num_tokens]
    (rows of equal length); the first P entries of each row are the prompt.

    Args:
      model: a language model implementing the decoding protocol (`init_cache`, and `apply` with
        `cache=`; e.g. `research.models.transformer_lm.Model`) with `config.vocab_size`.
      params: its parameters.
      num_tokens: how many tokens to append (>= 0).
      rng: a JAX PRNG key; step i uses `fold_in(rng, i)`, so a fixed key gives a fixed output.
      temperature: softmax temperature (> 0), or 0 for greedy decoding (argmax, rng unused).
      top_k: if set, sample only among the k most likely tokens; top_k=1 is greedy.
      eos_id: if set, a row stops at this token and is filled with it from there on.
    """
    prompt = np.asarray(prompt)
    vocab_size = model.config.vocab_size
    if prompt.ndim not in (1, 2) or prompt.shape[-1] == 0 or prompt.size == 0:
        raise ValueError(
            f"prompt must be a non-empty int array [P] or [B,P], got shape {prompt.shape}; pass "
            "token ids."
        )
    if not np.issubdtype(prompt.dtype, np.integer):
        raise ValueError(f"prompt must hold integer token ids, got dtype {prompt.dtype}.")
    if prompt.min() < 0 or prompt.max() >= vocab_size:
        raise ValueError(
            f"prompt ids must lie in [0, {vocab_size}), got [{prompt.min()}, {prompt.max()}]."
        )
    if num_tokens < 0:
        raise ValueError(f"num_tokens must be >= 0, got {num_tokens}.")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}.")
    if top_k is not None and not 1 <= top_k <= vocab_size:
        raise ValueError(f"top_k must be in [1, {vocab_size}] or None, got {top_k}.")
    if eos_id is not None and not 0 <= eos_id < vocab_size:
        raise ValueError(f"eos_id must be in [0, {vocab_size}) or None, got {eos_id}.")

    rows = jnp.asarray(np.atleast_2d(prompt), jnp.int32)
    if num_tokens == 0:
        new = jnp.zeros((rows.shape[0], 0), jnp.int32)
    else:
        select = TokenChooser(float(temperature), top_k)
        new = decode(
            model, params, rows, num_tokens=num_tokens, select=select, rng=rng, eos_id=eos_id
        )
    out = jnp.concatenate([rows, new], axis=1)
    return out[0] if prompt.ndim == 1 else out
