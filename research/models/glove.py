"""GloVe (Pennington, Socher and Manning, 2014): word vectors from a weighted least-squares fit to
log co-occurrence counts.

  J = sum over nonzero X_ij of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2,
  f(x) = min(1, (x / x_max)^alpha),  x_max = 100, alpha = 0.75 (the paper's values)

The model predicts w_i . w~_j + b_i + b~_j for a batch of (i, j) pairs; the objective (x_max, alpha)
is research/train/glove_loss.py. The exported vectors are W + W~ (the paper's section 4.2 choice),
`word_vectors(params)`.

Parameter tree: word/embedding W [V', D] and context/embedding W~ [V', D] with logical axes
('vocab', 'embed'); word_bias b [V'] and context_bias b~ [V'] with ('vocab',); V' is vocab_size
rounded up to `vocab_pad_multiple`. With
`--config.mesh.tensor=n` the vocabulary rows shard over n devices. Every parameter starts uniform in
[-0.5 / D, 0.5 / D], as GloVe's C code initializes them.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research.models import contract
from research.nn.embedding import Embed, check_token_ids
from research.nn.vocab_padding import padded_vocab_size


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 10_000
    # The tables have vocab_size rounded up to this multiple, so they shard evenly over `tensor`;
    # no pair reads a padding row, so those rows get no gradient and `word_vectors` drops them.
    vocab_pad_multiple: int = 64
    embed_dim: int = 50

    def __post_init__(self):
        if self.vocab_size < 1 or self.embed_dim < 1 or self.vocab_pad_multiple < 1:
            raise ValueError(
                f"GloVe needs vocab_size, embed_dim and vocab_pad_multiple >= 1, got "
                f"{self.vocab_size}, {self.embed_dim} and {self.vocab_pad_multiple}; pass the "
                "vocabulary's size and positive sizes."
            )

    @property
    def padded_vocab_size(self) -> int:
        return padded_vocab_size(self.vocab_size, self.vocab_pad_multiple)


VARIANTS = {
    "paper_300d": dict(vocab_size=400_000, embed_dim=300),
    "small": dict(vocab_size=10_000, embed_dim=50),
    "tiny": dict(vocab_size=128, embed_dim=8, vocab_pad_multiple=8),
}


def _uniform_init(scale_dim: int):
    """GloVe's init: (rand() / RAND_MAX - 0.5) / D, i.e. uniform in [-0.5 / D, 0.5 / D]."""

    def init(key, shape, dtype=jnp.float32):
        return (jax.random.uniform(key, shape, dtype) - 0.5) / scale_dim

    return init


class Model(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, rows, cols):
        """rows, cols: int [B] word and context ids -> float32 [B] w_i . w~_j + b_i + b~_j."""
        cfg = self.config
        if rows.ndim != 1 or cols.shape != rows.shape:
            raise ValueError(
                f"rows and cols must be [B] id arrays of one shape, got {rows.shape} and "
                f"{cols.shape}; pass one (word, context) pair per entry."
            )
        check_token_ids(rows, cfg.vocab_size)
        check_token_ids(cols, cfg.vocab_size)
        init = _uniform_init(cfg.embed_dim)
        v, d, axes = cfg.padded_vocab_size, cfg.embed_dim, ("vocab", "embed")
        w = Embed(v, d, axes, embedding_init=init, name="word")(rows)
        c = Embed(v, d, axes, embedding_init=init, name="context")(cols)
        bias_init = nn.with_logical_partitioning(init, ("vocab",))
        b = self.param("word_bias", bias_init, (v,), jnp.float32)
        b_tilde = self.param("context_bias", bias_init, (v,), jnp.float32)
        w = nn.with_logical_constraint(w, ("batch", "embed"))
        c = nn.with_logical_constraint(c, ("batch", "embed"))
        return jnp.einsum("BD,BD->B", w, c) + jnp.take(b, rows) + jnp.take(b_tilde, cols)


def word_vectors(params, vocab_size: int | None = None) -> np.ndarray:
    """W + W~ as float32 numpy [V, D] without the padding rows (params: the model's 'params',
    possibly sharded; vocab_size: V, None keeps every row)."""
    params = nn.unbox(params)
    word = np.asarray(jax.device_get(params["word"]["embedding"]), np.float32)
    context = np.asarray(jax.device_get(params["context"]["embedding"]), np.float32)
    return (word + context)[:vocab_size]


make = contract.maker("glove", Config, VARIANTS, Model)
