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

Encoder-decoder models (`research.models.t5`, `research.models.seq2seq`) set the class attribute
`is_encoder_decoder = True`. Their prompt is the encoder input: the first call encodes it (with
`mask=` its padding mask, True on real tokens, typically right-padded) and runs the decoder's start
token, returning logits [B,1,V]; later calls take decoder tokens. Their cache counts decoder
positions only, so `init_cache(B, L)` needs L = 1 + the tokens to generate, whatever the encoder
input's length (`new_cache` sizes it).

`decode` runs it: one call over the prompt (prefill), then one call per new token, choosing each
token with a `select(logits [B,V], rng) -> int32[B]` rule (see `research.generate.sampling`), all
inside one `jax.jit` with a `lax.while_loop`. It stops when every row has produced `eos_id` (when
given) or after `num_tokens` steps. It never needs the model's maximum length or a recomputed
window: the cache is the whole state. On request it also returns what the model scored at each
step (`return_logprobs`, `return_logits`): what RL fine-tuning, distillation and evaluation read.

Left-padded prompts (rows of different lengths right-aligned, `prompt_mask` False on the padding;
`research.generate.sampling.left_pad` builds them) go through the prefill with `mask=`, so every
row's new tokens start in the same column and one `select` call serves the whole batch.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

Select = Callable[[jax.Array, jax.Array], jax.Array]  # (logits [B,V], rng) -> tokens int32[B]


def is_encoder_decoder(model) -> bool:
    """Whether `model`'s prompt is an encoder input (see the module docstring)."""
    return bool(getattr(model, "is_encoder_decoder", False))


def new_cache(model, batch_size: int, prompt_length: int, num_tokens: int):
    """The empty cache `decode` starts from: room for the prefill (the prompt's P positions, or
    an encoder-decoder's one start token) and for the `num_tokens` tokens fed back after it."""
    prefill = 1 if is_encoder_decoder(model) else prompt_length
    return model.init_cache(batch_size, prefill + num_tokens)


def decode(
    model,
    params,
    prompts,
    *,
    num_tokens: int,
    select: Select,
    rng,
    eos_id=None,
    fill_id=None,
    prompt_mask=None,
    return_logprobs: bool = False,
    return_logits: bool = False,
):
    """Extends each row of `prompts` by up to `num_tokens` tokens chosen by `select`.

    Shapes: prompts int32[B,P] (P >= 1), prompt_mask bool[B,P] or None (no padding)
    -> tokens int32[B, num_tokens]; with `return_logprobs` and/or `return_logits`, the tuple
    (tokens, logprobs float32[B, num_tokens], logits float32[B, num_tokens, V]) holding the
    requested ones in that order.

    Step i (0-based) calls `select(logits, fold_in(rng, i))`, so a fixed key gives a fixed output.
    With `eos_id`, a row that emits it is done: its later entries are `fill_id` (default
    `eos_id`), and the loop ends early once every row is done. `select` is a static argument of
    the jitted loop: it must hash by value (a module-level function, or a frozen dataclass such as
    `research.generate.sampling.TokenChooser`), or every call compiles anew.
    With `prompt_mask` the model must take `mask=`: left padding (False first) for a language
    model, the encoder's padding mask for an encoder-decoder (see the module docstring).

    `logits[:, i]` are the model's scores [V] that step i chose from (before any temperature or
    truncation in `select`), `logprobs[:, i]` the chosen token's log-probability under them,
    log_softmax(logits)[token]: what a full forward pass over prompt + tokens gives at the
    positions that predicted each token. Entries after a row's EOS (the fill) are 0 in both, so
    `logprobs.sum(-1)` is each sequence's log-probability up to and including its EOS.
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
    if fill_id is not None and eos_id is None:
        raise ValueError(
            f"fill_id={fill_id} fills the rows after their eos_id, but eos_id is None; pass "
            "eos_id too, or drop fill_id."
        )
    tokens, logprobs, logits = _decode(
        model, params, prompts, prompt_mask, rng, num_tokens=num_tokens, select=select,
        eos_id=eos_id, fill_id=eos_id if fill_id is None else fill_id,
        keep=(return_logprobs, return_logits),
    )  # fmt: skip
    if not (return_logprobs or return_logits):
        return tokens
    return (
        (tokens,) + ((logprobs,) if return_logprobs else ()) + ((logits,) if return_logits else ())
    )


@functools.partial(
    jax.jit, static_argnames=("model", "num_tokens", "select", "eos_id", "fill_id", "keep")
)
def _decode(model, params, prompts, prompt_mask, rng, *, num_tokens, select, eos_id, fill_id, keep):
    batch, prompt_len = prompts.shape
    cache = new_cache(model, batch, prompt_len, num_tokens)
    padding = {} if prompt_mask is None else {"mask": prompt_mask.astype(bool)}
    logits, cache = model.apply({"params": params}, prompts, cache=cache, **padding)  # prefill
    fill = 0 if fill_id is None else fill_id
    out = jnp.full((batch, num_tokens), fill, jnp.int32)
    keep_logprobs, keep_logits = keep
    # Zero-size buffers when not asked for: the loop carries nothing it does not return.
    logprobs = jnp.zeros((batch, num_tokens if keep_logprobs else 0), jnp.float32)
    vocab = logits.shape[-1]
    all_logits = jnp.zeros((batch, num_tokens if keep_logits else 0, vocab), jnp.float32)
    done = jnp.zeros((batch,), bool)

    def not_finished(carry):
        i, _, _, _, _, _, done = carry
        return (i < num_tokens) & ~jnp.all(done)

    def step(carry):
        i, last_logits, cache, out, logprobs, all_logits, done = carry
        token = select(last_logits, jax.random.fold_in(rng, i)).astype(jnp.int32)  # [B]
        token = jnp.where(done, fill, token)
        out = jax.lax.dynamic_update_index_in_dim(out, token, i, axis=1)
        last_logits = last_logits.astype(jnp.float32)
        if keep_logprobs:
            chosen = jnp.take_along_axis(
                jax.nn.log_softmax(last_logits, axis=-1), token[:, None], axis=-1
            )[:, 0]
            chosen = jnp.where(done, 0.0, chosen)
            logprobs = jax.lax.dynamic_update_index_in_dim(logprobs, chosen, i, axis=1)
        if keep_logits:
            scored = jnp.where(done[:, None], 0.0, last_logits)
            all_logits = jax.lax.dynamic_update_index_in_dim(all_logits, scored, i, axis=1)
        if eos_id is not None:
            done = done | (token == eos_id)
        logits, cache = model.apply({"params": params}, token[:, None], cache=cache)
        return i + 1, logits[:, -1], cache, out, logprobs, all_logits, done

    carry = (jnp.int32(0), logits[:, -1], cache, out, logprobs, all_logits, done)
    return jax.lax.while_loop(not_finished, step, carry)[3:6]
