"""word2vec (Mikolov et al. 2013): skip-gram or CBOW with negative sampling.

  skip-gram: h = embedding[center]                       inputs int [B]
  CBOW:      h = mean of embedding[context] over mask   inputs int [B, C], mask [B, C]
  logits:    positive [B] = output[target] . h, negative [B, K] = output[negatives] . h

Parameter tree: embedding [V, D] (the word vectors; uniform(-0.5/D, 0.5/D) as word2vec.c) and
output [V, D] (word2vec.c's syn1neg; zeros), both with logical axes ('vocab', 'embed'): the
vocabulary shards over `tensor`, so a large vocabulary trains across devices. The loss is
`research.embeddings.negative_sampling.negative_sampling_loss`. CBOW's mean passes the whole error
to every context row, as word2vec.c and gensim update (see `negative_sampling.average_rows`).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.embeddings.negative_sampling import average_rows
from research.models import contract

ARCHITECTURES = ("skipgram", "cbow")


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 10_000
    embed_dim: int = 100
    architecture: str = "skipgram"  # 'skipgram' | 'cbow'

    def __post_init__(self):
        for name in ("vocab_size", "embed_dim"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"word2vec {name}={getattr(self, name)} must be >= 1; pass e.g. 100."
                )
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"word2vec architecture={self.architecture!r} is not known; use one of "
                f"{', '.join(ARCHITECTURES)}."
            )


VARIANTS = {
    "skipgram": dict(embed_dim=100, architecture="skipgram"),
    "cbow": dict(embed_dim=100, architecture="cbow"),
    "tiny": dict(vocab_size=128, embed_dim=16, architecture="skipgram"),
}


def uniform_init(dim: int):
    """word2vec.c's input-table init: uniform on [-0.5 / dim, 0.5 / dim)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -0.5 / dim, 0.5 / dim)

    return init


def scores(h, output, targets, negatives):
    """positive [B, ...] = output[targets] . h, negative [B, ..., K] = output[negatives] . h.

    h [B, D]; targets int [B] or [B, C] (several targets per input, skip-gram windows); negatives
    int [*targets.shape, K].
    """
    positive = jnp.einsum("BD,B...D->B...", h, jnp.take(output, targets, axis=0))
    negative = jnp.einsum("BD,B...D->B...", h, jnp.take(output, negatives, axis=0))
    return positive, negative


class Model(nn.Module):
    config: Config

    def setup(self):
        cfg = self.config
        shape = (cfg.vocab_size, cfg.embed_dim)
        axes = ("vocab", "embed")
        init = nn.with_logical_partitioning(uniform_init(cfg.embed_dim), axes)
        self.embedding = self.param("embedding", init, shape, jnp.float32)
        zeros = nn.with_logical_partitioning(nn.initializers.zeros, axes)
        self.output = self.param("output", zeros, shape, jnp.float32)

    def hidden(self, inputs, mask=None):
        """inputs int [B] (skip-gram) or [B, C] with mask [B, C] (CBOW) -> h float32 [B, D]."""
        expected = 1 if self.config.architecture == "skipgram" else 2
        if inputs.ndim != expected or (expected == 2 and mask is None):
            want = "[B] center ids" if expected == 1 else "[B, C] context ids and a [B, C] mask"
            raise ValueError(
                f"{self.config.architecture} inputs must be {want}, got shape {inputs.shape} "
                f"{'with' if mask is not None else 'without'} a mask."
            )
        rows = jnp.take(self.embedding, inputs, axis=0)
        h = rows if expected == 1 else average_rows(rows, mask)
        return nn.with_logical_constraint(h, ("batch", "embed"))

    def __call__(self, inputs, targets, negatives, mask=None):
        """-> (positive logits float32 [B], negative logits float32 [B, K]).

        inputs: see `hidden`; targets int [B]; negatives int [B, K].
        """
        return scores(self.hidden(inputs, mask), self.output, targets, negatives)

    def word_vectors(self):
        """The word vectors float32 [V, D]: the input table (word2vec's syn0)."""
        return self.embedding


make = contract.maker("word2vec", Config, VARIANTS, Model)
