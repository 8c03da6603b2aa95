"""Position information for attention, the three ways the transformer family uses it.

- Sinusoidal (Vaswani et al. 2017, section 3.5): a fixed table added to the token embeddings,
  PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D)). No parameters; any
  length. (Learned absolute positions are `research.nn.embedding.Embed` indexed by position.)
- Rotary (RoPE, Su et al. 2021): queries and keys are rotated by an angle proportional to their
  position, pair by pair, so that q_m . k_n depends on m - n only. Applied inside attention, to q and
  k, never to v. Pairs are (i, i + H/2), the "rotate half" layout of GPT-NeoX and Hugging Face's
  Llama; `interleaved=True` pairs (2i, 2i + 1) as in the paper and GPT-J.
- T5 relative position buckets (Raffel et al. 2020): each (query, key) distance falls into one of
  `num_buckets` buckets, exact for short distances and logarithmic up to `max_distance`; a learned
  scalar per (bucket, head) is added to the attention scores (`RelativePositionBias`, the `bias`
  argument of `research.nn.attention.dot_product_attention`).

Shapes: T length, D embed, N heads, H head dim, B batch.
"""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


def sinusoidal_table(length: int, features: int, *, max_timescale: float = 10_000.0):
    """The fixed [length, features] table of sines (even columns) and cosines (odd columns).

    `features` must be even: each frequency fills one sine and one cosine column.
    """
    if features % 2:
        raise ValueError(f"sinusoidal positions need an even width, got features={features}.")
    positions = np.arange(length, dtype=np.float64)[:, None]
    inv_freq = max_timescale ** (-np.arange(0, features, 2, dtype=np.float64) / features)
    angles = positions * inv_freq  # [T, D/2]
    table = np.empty((length, features), np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return jnp.asarray(table, jnp.float32)


def rotary_angles(positions, head_dim: int, *, base: float = 10_000.0):
    """Rotation angles [..., H/2] for integer positions [...]: position * base^(-2i/H)."""
    if head_dim % 2:
        raise ValueError(f"rotary positions need an even head dim, got head_dim={head_dim}.")
    inv_freq = base ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
    return positions.astype(jnp.float32)[..., None] * inv_freq


def apply_rotary(x, positions, *, base: float = 10_000.0, interleaved: bool = False):
    """Rotates queries or keys x [B, T, N, H] by their positions [B, T] (or [T]).

    Computed in float32, returned in x's dtype. With `interleaved=False` the pair of column i is
    column i + H/2; with `interleaved=True` it is the neighbouring column.
    """
    if x.ndim != 4:
        raise ValueError(f"apply_rotary expects x [B, T, N, H], got shape {x.shape}.")
    angles = rotary_angles(jnp.broadcast_to(positions, x.shape[:2]), x.shape[-1], base=base)
    cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]  # [B, T, 1, H/2]
    xf = x.astype(jnp.float32)
    if interleaved:
        first, second = xf[..., 0::2], xf[..., 1::2]
    else:
        first, second = jnp.split(xf, 2, axis=-1)
    rotated_first = first * cos - second * sin
    rotated_second = second * cos + first * sin
    if interleaved:
        out = jnp.stack([rotated_first, rotated_second], axis=-1).reshape(x.shape)
    else:
        out = jnp.concatenate([rotated_first, rotated_second], axis=-1)
    return out.astype(x.dtype)


def relative_position_bucket(
    relative_position, *, bidirectional: bool, num_buckets: int = 32, max_distance: int = 128
):
    """T5's bucket of each relative position (key position - query position), int32.

    Bidirectional (encoder): half the buckets for keys before the query, half for keys after.
    Causal (decoder): keys after the query all share bucket 0. Within a direction, the first half
    of the buckets hold distances 0, 1, 2, ... exactly; the rest grow logarithmically up to
    `max_distance`, beyond which every distance shares the last bucket.
    """
    relative_position = jnp.asarray(relative_position)
    bucket = jnp.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        bucket = jnp.where(relative_position > 0, num_buckets, 0)
        distance = jnp.abs(relative_position)
    else:
        distance = jnp.maximum(-relative_position, 0)
    max_exact = num_buckets // 2
    # Clamp before the log so distance 0 gives no -inf (its bucket comes from the exact branch).
    log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact)
    log_bucket = max_exact + (
        log_ratio / np.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).astype(jnp.int32)
    log_bucket = jnp.minimum(log_bucket, num_buckets - 1)
    return (bucket + jnp.where(distance < max_exact, distance, log_bucket)).astype(jnp.int32)


class RelativePositionBias(nn.Module):
    """T5's learned attention-score bias: one scalar per (bucket, head), parameter `rel_embedding`
    [num_buckets, N].

    Shapes: `__call__(query_length, key_length, *, query_offset=0)` -> float32 [1, N, T, S], to add
    to the scores (broadcast over the batch). `query_offset` is the position of the first query
    (the number of cached keys while decoding one token at a time); int [B] when every row sits
    at its own position (a serving batch) -> [B, N, T, S].
    """

    num_heads: int
    bidirectional: bool
    num_buckets: int = 32
    max_distance: int = 128
    embedding_init: nn.initializers.Initializer = nn.initializers.normal(1.0)

    @nn.compact
    def __call__(self, query_length: int, key_length: int, *, query_offset=0):
        table = self.param(
            "rel_embedding",
            nn.with_logical_partitioning(self.embedding_init, (None, "heads")),
            (self.num_buckets, self.num_heads),
            jnp.float32,
        )
        offsets = jnp.reshape(jnp.asarray(query_offset), (-1, 1, 1))  # [B|1, 1, 1]
        query_positions = jnp.arange(query_length)[None, :, None] + offsets
        key_positions = jnp.arange(key_length)[None, None, :]
        buckets = relative_position_bucket(
            key_positions - query_positions,
            bidirectional=self.bidirectional,
            num_buckets=self.num_buckets,
            max_distance=self.max_distance,
        )  # [B|1, T, S]
        bias = jnp.take(table, buckets, axis=0)  # [B|1, T, S, N]
        return jnp.transpose(bias, (0, 3, 1, 2))
