"""A hand-built language model for the decoding tests: it always predicts (last token + 1) mod V.

It implements the decoding protocol of research/generate/decoding.py with a cache that is just the
number of positions seen, so the tests check the loop itself, with exactly known outputs.
"""

import dataclasses

import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class CountingConfig:
    vocab_size: int = 6
    max_len: int = 32


@dataclasses.dataclass(frozen=True)
class CountingModel:
    config: CountingConfig = CountingConfig()
    confidence: float = 10.0  # logit of the predicted token; every other token has 0

    def init_cache(self, batch_size: int, length: int):
        if length > self.config.max_len:
            raise ValueError(f"CountingModel holds at most {self.config.max_len} positions.")
        return jnp.zeros((batch_size,), jnp.int32)  # positions seen

    def apply(self, variables, tokens, *, cache=None, train=False):
        del variables, train
        nxt = (tokens + 1) % self.config.vocab_size  # [B,T]
        logits = self.confidence * (nxt[..., None] == jnp.arange(self.config.vocab_size))
        logits = logits.astype(jnp.float32)
        return logits if cache is None else (logits, cache + tokens.shape[1])
