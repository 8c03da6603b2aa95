"""Choosing the next token from a language model's scores: greedy, temperature, top-k, top-p
(nucleus), and `sample`, which runs them through the decoding protocol
(`research.generate.decoding`), for one prompt or a left-padded batch of prompts of different
lengths (`left_pad` builds one).

Temperature T divides the logits before the softmax: T < 1 sharpens the distribution towards its
mode, T > 1 flattens it, T -> 0 is greedy decoding. Top-k keeps the k most likely tokens and
renormalizes over them. Top-p (Holtzman et al., 2020, "The Curious Case of Neural Text
Degeneration") keeps the smallest set of most likely tokens whose total probability is >= p, so
the number of candidates follows the model's confidence. They apply in that order (as in Hugging
Face's samplers): temperature, then top-k, then top-p on the distribution top-k left.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from research.generate.decoding import decode, is_encoder_decoder


def top_p_mask(logits, top_p: float):
    """Which tokens the nucleus of probability `top_p` keeps. Shapes: logits [B,V] -> bool [B,V].

    With the tokens sorted by probability (softmax of `logits`), the nucleus is the smallest
    prefix whose probability sums to >= top_p: token i is in it when the tokens more likely than
    it sum to < top_p. Ties: every token exactly as likely as the least likely token of that
    prefix is kept too, so the set does not depend on how the sort orders equal scores (it may
    then hold more than the smallest number of tokens). The most likely token is always kept.
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    sorted_probs = -jnp.sort(-probs, axis=-1)  # descending
    before = jnp.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass of the more likely tokens
    needed = before < top_p
    needed = needed.at[..., 0].set(True)
    # The least likely needed probability is the threshold: everything as likely stays in.
    threshold = jnp.min(jnp.where(needed, sorted_probs, jnp.inf), axis=-1, keepdims=True)
    return probs >= threshold


@dataclasses.dataclass(frozen=True)
class TokenChooser:
    """A `select` rule for `decode`: greedy when temperature is 0, else a draw from
    softmax(logits / temperature) restricted to the top_k most likely tokens (all when None), then
    to the nucleus of probability top_p (`top_p_mask`; all when None).

    Shapes: logits [B,V], rng -> int32[B]. Frozen, so equal rules hash equal and the jitted
    decoding loop compiles once per rule.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __call__(self, logits, rng):
        if self.temperature == 0:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        logits = logits.astype(jnp.float32) / self.temperature
        if self.top_k is not None:
            kth_largest = jax.lax.top_k(logits, self.top_k)[0][..., -1:]  # [B,1]
            logits = jnp.where(logits < kth_largest, -jnp.inf, logits)
        if self.top_p is not None and self.top_p < 1.0:
            logits = jnp.where(top_p_mask(logits, self.top_p), logits, -jnp.inf)
        return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)


def left_pad(prompts, pad_id: int = 0):
    """Prompts of different lengths -> (tokens int32[B,P], prompt_mask bool[B,P]), P the longest.

    Each row is right-aligned: `pad_id` fills its start, and the mask is False there. This is the
    layout `sample` and `decode` take, so every row's new tokens start in the same column.
    """
    rows = [np.asarray(p).reshape(-1) for p in prompts]
    if not rows or min(len(r) for r in rows) == 0:
        raise ValueError("left_pad needs at least one prompt, and every prompt at least one token.")
    width = max(len(r) for r in rows)
    tokens = np.full((len(rows), width), pad_id, np.int32)
    mask = np.zeros((len(rows), width), bool)
    for i, row in enumerate(rows):
        tokens[i, width - len(row) :] = row
        mask[i, width - len(row) :] = True
    return tokens, mask


def _check_prompt_mask(prompt_mask, shape, *, encoder_decoder: bool) -> np.ndarray:
    mask = np.asarray(prompt_mask)
    if mask.shape != shape:
        raise ValueError(
            f"prompt_mask must have the prompts' shape {shape}, got {mask.shape}; build both with "
            "left_pad."
        )
    mask = mask.astype(bool)
    if encoder_decoder:
        # The encoder's padding mask: right padding (True...True False...False, >= 1 True).
        if not mask[:, 0].all() or (np.diff(mask.astype(np.int8), axis=-1) > 0).any():
            raise ValueError(
                "prompt_mask of an encoder-decoder must mark right-padded encoder inputs (True "
                "from the first column, then False for the padding, at least one True per row)."
            )
        return mask
    # Left padding: each row is False...False True...True, with at least one True.
    if not mask[:, -1].all() or (np.diff(mask.astype(np.int8), axis=-1) < 0).any():
        raise ValueError(
            "prompt_mask must mark left-padded rows (False for the padding, then True up to the "
            "last column, at least one True per row); build it with left_pad."
        )
    return mask


def sample(
    model,
    params,
    prompt,
    *,
    num_tokens: int,
    rng,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    prompt_mask=None,
    return_logprobs: bool = False,
    return_logits: bool = False,
):
    """Extends `prompt` by `num_tokens` tokens, with the model's cache (one forward per token).

    Shapes: prompt int32[P] -> int32[P + num_tokens], or int32[B,P] -> int32[B, P + num_tokens];
    the first P entries of each row are the prompt (with its padding, when padded; an
    encoder-decoder's prompt is its encoder input). With `return_logprobs` / `return_logits`:
    the tuple (tokens, logprobs [(B,) num_tokens], logits [(B,) num_tokens, V]) with the
    requested ones in that order, for the new tokens only (`research.generate.decoding.decode`:
    the model's own scores before temperature and truncation; 0 after a row's EOS).

    Args:
      model: a language model implementing the decoding protocol (`init_cache`, and `apply` with
        `cache=`; e.g. `research.models.transformer_lm.Model`) with `config.vocab_size`.
      params: its parameters.
      num_tokens: how many tokens to append (>= 0).
      rng: a JAX PRNG key; step i uses `fold_in(rng, i)`, so a fixed key gives a fixed output.
      temperature: softmax temperature (> 0), or 0 for greedy decoding (argmax, rng unused).
      top_k: if set, sample only among the k most likely tokens; top_k=1 is greedy.
      top_p: if set, in (0, 1]: sample only from the nucleus (`top_p_mask`); 1 keeps every token.
      eos_id: if set, a row stops at this token and is filled with it from there on.
      prompt_mask: bool [B,P] for a batch of prompts of different lengths, left-padded (False on
        the padding; `left_pad` builds both). Each row then decodes as it would alone. The model
        must accept `mask=` with its cache (`transformer_lm` does; an RNN's carry cannot skip
        padding, so give it rows of equal length). For an encoder-decoder (`is_encoder_decoder`,
        e.g. `t5`, `seq2seq`) it is the encoder inputs' padding mask, right-padded (True on the
        real tokens, then False): each row generates as its unpadded input would.
      return_logprobs, return_logits: also return the chosen tokens' log-probabilities and each
        step's logits (above).
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
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}.")
    if eos_id is not None and not 0 <= eos_id < vocab_size:
        raise ValueError(f"eos_id must be in [0, {vocab_size}) or None, got {eos_id}.")

    rows = jnp.asarray(np.atleast_2d(prompt), jnp.int32)
    if prompt_mask is not None:
        prompt_mask = jnp.asarray(
            _check_prompt_mask(
                np.atleast_2d(prompt_mask), rows.shape, encoder_decoder=is_encoder_decoder(model)
            )
        )
    asked = return_logprobs or return_logits
    if num_tokens == 0:
        new = jnp.zeros((rows.shape[0], 0), jnp.int32)
        extras = [jnp.zeros((rows.shape[0], 0))] if return_logprobs else []
        extras += [jnp.zeros((rows.shape[0], 0, vocab_size))] if return_logits else []
    else:
        select = TokenChooser(float(temperature), top_k, None if top_p is None else float(top_p))
        result = decode(
            model,
            params,
            rows,
            num_tokens=num_tokens,
            select=select,
            rng=rng,
            eos_id=eos_id,
            prompt_mask=prompt_mask,
            return_logprobs=return_logprobs,
            return_logits=return_logits,
        )
        new, extras = (result[0], list(result[1:])) if asked else (result, [])
    out = jnp.concatenate([rows, new], axis=1)
    if prompt.ndim == 1:
        out, extras = out[0], [x[0] for x in extras]
    return (out, *extras) if extras else out
