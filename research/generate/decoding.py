"""The decoding protocol every language model implements, and the one loop that drives it.

Protocol (a transformer keeps keys and values in its cache; an RNN keeps its carry):

  cache = model.init_cache(batch_size, length)
      an empty cache for sequences of up to `length` tokens; a ValueError when the model cannot
      hold that many (a transformer's position table, say). Needs no parameters.
  logits, cache = model.apply({'params': params}, tokens, cache=cache)
      tokens int32[B,T] continue the sequence the cache holds; logits [B,T,V] float32 are the
      next-token scores at each of those positions, and the cache now holds them too.
  logits, cache = model.apply({'params': params}, tokens, cache=cache, mask=mask)
      optional, for left-padded prompt batches: mask bool[B,T] is False on padding tokens, which
      take no position and are never attended to, so each row continues as it would alone.
      Later calls without `mask` append real tokens.

`decode` runs it: one call over the prompt (prefill), then one call per new token, choosing each
token with a `select(logits [B,V], rng) -> int32[B]` rule (see `research.generate.sampling`), all
inside one `jax.jit` with a `lax.while_loop`. It stops when every row has produced `eos_id` (when
given) or after `num_tokens` steps. It never needs the model's maximum length or a recomputed
window: the cache is the whole state.

Left-padded prompts (rows of different lengths right-aligned, `prompt_mask` False on the padding;
`research.generate.sampling.left_pad` builds them) go through the prefill with `mask=`, so every
row's new tokens start in the same column and one `select` call serves the whole batch.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

Select = Callable[[jax.Array, jax.Array], jax.Array]  # (logits [B,V], rng) -> tokens int32[B]


def decode(
    model, params, prompts, *, num_tokens: int, select: Select, rng, eos_id=None, prompt_mask=None
):
    """Extends each row of `prompts` by up to `num_tokens` tokens chosen by `select`.

    Shapes: prompts int32[B,P] (P >= 1), prompt_mask bool[B,P] or None (rows of equal length)
    -> int32[B, num_tokens].

    Step i (0-based) calls `select(logits, fold_in(rng, i))`, so a fixed key gives a fixed output.
    With `eos_id`, a row that emits it is done: its later entries are `eos_id`, and the loop ends
    early once every row is done. `select` is a static argument of the jitted loop: it must hash
    by value (a module-level function, or a frozen dataclass such as
    `research.generate.sampling.TokenChooser`), or every call compiles anew.
    With `prompt_mask` (left padding False, see the module docstring) the model must take `mask=`.
    """
    if prompts.ndim != 2 or prompts.shape[1] < 1:
        raise ValueError(f"prompts must be int32[B,P] with P >= 1, got shape {prompts.shape}.")
    if num_tokens < 1:
        raise ValueError(f"num_tokens must be >= 1, got {num_tokens}.")
    if prompt_mask is not None and jnp.shape(prompt_mask) != prompts.shape:
        raise ValueError(
            f"prompt_mask must have the prompts' shape {prompts.shape}, got "
            f"{jnp.shape(prompt_mask)}."
        )
    return _decode(
        model, params, prompts, prompt_mask, rng, num_tokens=num_tokens, select=select,
        eos_id=eos_id,
    )  # fmt: skip


@functools.partial(jax.jit, static_argnames=("model", "num_tokens", "select", "eos_id"))
def _decode(model, params, prompts, prompt_mask, rng, *, num_tokens, select, eos_id):
    batch, prompt_len = prompts.shape
    cache = model.init_cache(batch, prompt_len + num_tokens)
    padding = {} if prompt_mask is None else {"mask": prompt_mask.astype(bool)}
    logits, cache = model.apply({"params": params}, prompts, cache=cache, **padding)  # prefill
    fill = 0 if eos_id is None else eos_id
    out = jnp.full((batch, num_tokens), fill, jnp.int32)
    done = jnp.zeros((batch,), bool)

    def not_finished(carry):
        i, _, _, _, done = carry
        return (i < num_tokens) & ~jnp.all(done)

    def step(carry):
        i, last_logits, cache, out, done = carry
        token = select(last_logits, jax.random.fold_in(rng, i)).astype(jnp.int32)  # [B]
        token = jnp.where(done, fill, token)
        out = jax.lax.dynamic_update_index_in_dim(out, token, i, axis=1)
        if eos_id is not None:
            done = done | (token == eos_id)
        logits, cache = model.apply({"params": params}, token[:, None], cache=cache)
        return i + 1, logits[:, -1], cache, out, done

    carry = (jnp.int32(0), logits[:, -1], cache, out, done)
    return jax.lax.while_loop(not_finished, step, carry)[3]
