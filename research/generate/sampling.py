"""Autoregressive sampling without a KV cache: one full forward pass per new token.

This is the simple, obviously-correct decoder that cached decoding is tested against. Each step
runs the model over a fixed window of `max_len` tokens (so one compiled forward serves every step)
and reads the logits at the last filled position; causal attention makes the padding after it
irrelevant. The whole loop is a single `jax.lax.fori_loop` under one `jax.jit`.

Long outputs: when the prompt plus the new tokens exceed `max_len`, the context is a sliding
window of the last `max_len` tokens (positions restart at 0 inside the window, as when GPT-2 is
fed a cropped context). Tokens that slid out are kept in the returned sequence.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def sample(
    model,
    params,
    prompt,
    *,
    num_tokens: int,
    rng,
    temperature: float = 1.0,
    top_k: int | None = None,
):
    """Extends `prompt` by `num_tokens` sampled tokens.

    Shapes: prompt int32[P] (P >= 1) -> int32[P + num_tokens]; the first P entries are `prompt`.

    Args:
      model: a language model with `config.max_len` and `config.vocab_size` whose
        `apply({'params': params}, tokens[1, T], train=False)` returns logits [1, T, V]
        (e.g. `research.models.transformer_lm.Model`).
      params: its parameters (boxed or plain).
      num_tokens: how many tokens to append (>= 0).
      rng: a JAX PRNG key; step i uses `fold_in(rng, i)`, so a fixed key gives a fixed output.
      temperature: softmax temperature (> 0), or 0 for greedy decoding (argmax, rng unused).
      top_k: if set, sample only among the k most likely tokens; top_k=1 is greedy.
    """
    prompt = np.asarray(prompt)
    vocab_size, max_len = model.config.vocab_size, model.config.max_len
    if prompt.ndim != 1 or prompt.size == 0 or not np.issubdtype(prompt.dtype, np.integer):
        raise ValueError(
            f"prompt must be a non-empty 1-D integer array, got shape {prompt.shape} and dtype "
            f"{prompt.dtype}; pass one sequence of token ids."
        )
    if prompt.min() < 0 or prompt.max() >= vocab_size:
        raise ValueError(
            f"prompt ids must lie in [0, {vocab_size}), got [{prompt.min()}, {prompt.max()}]."
        )
    if num_tokens < 0:
        raise ValueError(f"num_tokens must be >= 0, got {num_tokens}.")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}.")
    if top_k is not None and not 1 <= top_k <= vocab_size:
        raise ValueError(f"top_k must be in [1, {vocab_size}] or None, got {top_k}.")

    total = prompt.size + num_tokens
    buffer = np.zeros(max(max_len, total), np.int32)
    buffer[: prompt.size] = prompt
    out = _sample_loop(
        model,
        params,
        jnp.asarray(buffer),
        rng,
        jnp.float32(max(temperature, 1e-6)),  # unused when greedy, kept finite
        start=prompt.size,
        stop=total,
        greedy=temperature == 0,
        top_k=top_k,
    )
    return out[:total]


@functools.partial(jax.jit, static_argnames=("model", "start", "stop", "greedy", "top_k"))
def _sample_loop(model, params, buffer, rng, temperature, *, start, stop, greedy, top_k):
    """Fills buffer[start:stop], one token per step. Shapes: buffer int32[L], L >= max_len."""
    window = model.config.max_len

    def step(i, buffer):
        # Context is tokens[i - window : i], clamped to the buffer start; position i - 1 - offset
        # in the window holds the last token.
        offset = jnp.maximum(i - window, 0)
        context = jax.lax.dynamic_slice(buffer, (offset,), (window,))
        logits = model.apply({"params": params}, context[None], train=False)  # [1, W, V]
        logits = jax.lax.dynamic_index_in_dim(logits[0], i - 1 - offset, keepdims=False)  # [V]
        if greedy:
            token = jnp.argmax(logits)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth_largest = jax.lax.top_k(logits, top_k)[0][-1]
                logits = jnp.where(logits < kth_largest, -jnp.inf, logits)
            token = jax.random.categorical(jax.random.fold_in(rng, i), logits)
        return buffer.at[i].set(token.astype(buffer.dtype))

    return jax.lax.fori_loop(start, stop, step, buffer)
