"""FastText (Bojanowski et al. 2017): word2vec whose input vector is the mean of the word's row and
the rows of its hashed character n-grams, so words never seen still get a vector.

  word input:  mean(embedding[w], ngrams[b_1], ..., ngrams[b_m])   b_i = n-gram buckets of w
               (`research.embeddings.subword_ngrams.bucket_table`, gensim's bucket ids)
  skip-gram:   h = word input of the center                      inputs [B], buckets [B, M]
  CBOW:        h = mean over the context of their word inputs    inputs [B, C], buckets [B, C, M]
  logits:      positive [B] = output[target] . h, negative [B, K] = output[negatives] . h

Parameter tree: embedding [V, D] and ngrams [R, D] (uniform(-0.5/D, 0.5/D)), output [V, D] (zeros);
all ('vocab', 'embed'), so the tables shard their rows over `tensor`. R = `ngram_rows`: the
experiment keeps a row only for the buckets its vocabulary's n-grams hash to (21,174 of 2,000,000
on the stdlib docstrings), because no other bucket is ever updated by training, and a dense SGD
step over all 2M rows would cost 800 MB of traffic per step for nothing. A bucket without a row
keeps its initial value (`unseen_bucket_vector`) when an out-of-vocabulary word asks for it. A word's exported
vector is `word_vectors` (the same mean, gensim's `adjust_vectors`); an out-of-vocabulary word's is
the mean of its n-gram rows (`ngram_vector`; zeros when it has no n-gram, as gensim and fastText).
Every averaged row receives the whole error, as fastText and gensim update (`average_rows`).
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from research.embeddings.negative_sampling import average_rows
from research.models import contract
from research.models.word2vec import ARCHITECTURES, scores, uniform_init


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 10_000
    embed_dim: int = 100
    architecture: str = "skipgram"  # 'skipgram' | 'cbow'
    num_buckets: int = 2_000_000  # the hash space (gensim's and fastText's default)
    # Rows of the n-gram table: 0 = one per bucket; the experiment passes the number of distinct
    # buckets its vocabulary's n-grams use (`subword_ngrams.compact_buckets`), since no other
    # bucket is ever updated by training.
    ngram_rows: int = 0
    min_n: int = 3
    max_n: int = 6

    def __post_init__(self):
        for name in ("vocab_size", "embed_dim", "num_buckets", "min_n"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"fasttext {name}={getattr(self, name)} must be >= 1; pass e.g. 100."
                )
        if self.max_n < self.min_n:
            raise ValueError(
                f"fasttext max_n={self.max_n} must be >= min_n={self.min_n}; pass e.g. 3 and 6."
            )
        if self.ngram_rows < 0:
            raise ValueError(
                f"fasttext ngram_rows={self.ngram_rows} is negative; pass 0 (one row per bucket) "
                "or the number of buckets in use."
            )
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"fasttext architecture={self.architecture!r} is not known; use one of "
                f"{', '.join(ARCHITECTURES)}."
            )


VARIANTS = {
    "skipgram": dict(embed_dim=100, architecture="skipgram", num_buckets=2_000_000),
    "cbow": dict(embed_dim=100, architecture="cbow", num_buckets=2_000_000),
    "tiny": dict(vocab_size=128, embed_dim=16, num_buckets=1000, min_n=2, max_n=4),
}


class Model(nn.Module):
    config: Config

    def setup(self):
        cfg = self.config
        axes = ("vocab", "embed")
        init = nn.with_logical_partitioning(uniform_init(cfg.embed_dim), axes)
        zeros = nn.with_logical_partitioning(nn.initializers.zeros, axes)
        self.embedding = self.param("embedding", init, (cfg.vocab_size, cfg.embed_dim))
        rows = cfg.ngram_rows or cfg.num_buckets
        self.ngrams = self.param("ngrams", init, (rows, cfg.embed_dim))
        self.output = self.param("output", zeros, (cfg.vocab_size, cfg.embed_dim))

    def word_input(self, ids, buckets, bucket_mask):
        """ids int [...], buckets int [..., M], bucket_mask [..., M] -> float32 [..., D]."""
        rows = jnp.concatenate(
            [jnp.take(self.embedding, ids, axis=0)[..., None, :], self.ngrams[buckets]], axis=-2
        )
        mask = jnp.concatenate([jnp.ones_like(bucket_mask[..., :1]), bucket_mask], axis=-1)
        return average_rows(rows, mask)

    def hidden(self, inputs, buckets, bucket_mask, mask=None):
        """Skip-gram: inputs [B], buckets [B, M]; CBOW: inputs [B, C], buckets [B, C, M], mask
        [B, C] -> h float32 [B, D]."""
        expected = 1 if self.config.architecture == "skipgram" else 2
        if (
            inputs.ndim != expected
            or buckets.shape[:-1] != inputs.shape
            or (expected == 2 and mask is None)
        ):
            want = (
                "[B] ids with [B, M] buckets"
                if expected == 1
                else ("[B, C] ids with [B, C, M] buckets and a [B, C] mask")
            )
            raise ValueError(
                f"fasttext {self.config.architecture} inputs must be {want}, got inputs "
                f"{inputs.shape} and buckets {buckets.shape}."
            )
        words = self.word_input(inputs, buckets, bucket_mask)
        h = words if expected == 1 else average_rows(words, mask)
        return nn.with_logical_constraint(h, ("batch", "embed"))

    def __call__(self, inputs, buckets, bucket_mask, targets, negatives, mask=None):
        """-> (positive logits float32 [B], negative logits float32 [B, K]); see `hidden`."""
        h = self.hidden(inputs, buckets, bucket_mask, mask)
        return scores(h, self.output, targets, negatives)

    def word_vectors(self, buckets, bucket_mask):
        """Vectors float32 [V, D] of words 0..V-1; buckets int [V, M], bucket_mask [V, M]."""
        ids = jnp.arange(buckets.shape[0])
        return self.word_input(ids, buckets, bucket_mask)

    def ngram_vector(self, buckets):
        """An out-of-vocabulary word's vector float32 [D]: the mean of its n-gram rows [M]."""
        if buckets.shape[0] == 0:
            return jnp.zeros((self.config.embed_dim,), jnp.float32)
        return jnp.mean(self.ngrams[buckets], axis=0)


def unseen_bucket_vector(bucket: int, dim: int, seed: int) -> np.ndarray:
    """The initial value float32 [D] of a bucket no vocabulary word uses (never trained):
    uniform(-0.5/D, 0.5/D), drawn from (seed, bucket), so every query gives the same vector."""
    rng = np.random.default_rng([seed, bucket])
    return rng.uniform(-0.5 / dim, 0.5 / dim, dim).astype(np.float32)


make = contract.maker("fasttext", Config, VARIANTS, Model)
