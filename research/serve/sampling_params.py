"""Per-request sampling settings, and the batched rule that applies a different one to every row.

A serving batch mixes requests that each ask for their own temperature, top-k, top-p and seed, so
the settings are arrays [B] rather than the static fields of `research.generate.sampling.
TokenChooser`; `choose_tokens` applies them in the same order with the same meaning
(temperature, then top-k, then top-p; temperature 0 is greedy), one row at a time under `vmap`, so
a row's token depends only on its own logits, settings and key: a seeded request gives the same
text whatever else is in the batch. Its key for the i-th new token is fold_in(PRNGKey(seed), i).
"""

import dataclasses

import jax
import jax.numpy as jnp

from research.generate.sampling import top_p_mask


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """What one request asks for. `max_tokens` counts new tokens; generation also stops at an id
    in `stop_ids` (the model's end-of-text id is added by the engine unless `ignore_eos`) or once
    the decoded text contains a string of `stop` (the text is cut before it)."""

    max_tokens: int = 16
    temperature: float = 1.0  # 0: greedy
    top_k: int = 0  # 0: every token
    top_p: float = 1.0  # 1: every token
    seed: int | None = None  # None: the engine draws one
    stop: tuple[str, ...] = ()
    stop_ids: tuple[int, ...] = ()
    ignore_eos: bool = False

    def check(self, vocab_size: int) -> None:
        """Raises ValueError naming the first setting out of range."""
        problems = [
            (self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}"),
            (
                self.temperature >= 0,
                f"temperature must be >= 0 (0 is greedy), got {self.temperature}",
            ),
            (
                0 <= self.top_k <= vocab_size,
                f"top_k must be in [0, {vocab_size}] (0: off), got {self.top_k}",
            ),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (
                self.seed is None or 0 <= self.seed < 2**32,
                f"seed must be in [0, 2**32), got {self.seed}",
            ),
            (
                all(0 <= i < vocab_size for i in self.stop_ids),
                f"stop_ids must lie in [0, {vocab_size}), got {list(self.stop_ids)}",
            ),
            (all(self.stop), "stop strings must not be empty"),
        ]
        for ok, message in problems:
            if not ok:
                raise ValueError(message + ".")


def choose_tokens(logits, temperature, top_k, top_p, seeds, counters):
    """The next token of every row, each under its own settings.

    Shapes: logits [B,V] float; temperature float32 [B] (0: greedy); top_k int32 [B] (0: off);
    top_p float32 [B] (1: off); seeds uint32 [B]; counters int32 [B] (how many tokens the row's
    request has produced) -> tokens int32 [B], and their log-probabilities float32 [B] under
    the unmodified logits (log_softmax(logits)[token], what `decode` reports).
    """

    def one_row(row_logits, temp, k, p, seed, counter):
        row_logits = row_logits.astype(jnp.float32)
        scaled = row_logits / jnp.where(temp > 0, temp, 1.0)
        kth_largest = jnp.sort(scaled)[::-1][jnp.maximum(k, 1) - 1]
        scaled = jnp.where((k > 0) & (scaled < kth_largest), -jnp.inf, scaled)
        nucleus = top_p_mask(scaled[None], p)[0]
        scaled = jnp.where((p < 1.0) & ~nucleus, -jnp.inf, scaled)
        key = jax.random.fold_in(jax.random.PRNGKey(seed), counter)
        drawn = jax.random.categorical(key, scaled)
        token = jnp.where(temp > 0, drawn, jnp.argmax(row_logits)).astype(jnp.int32)
        return token, jax.nn.log_softmax(row_logits)[token]

    return jax.vmap(one_row)(logits, temperature, top_k, top_p, seeds, counters)
