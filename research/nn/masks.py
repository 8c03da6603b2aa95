"""Boolean attention masks, built once per batch and broadcast over heads: True = "may attend".

Every mask here has rank 4, [B or 1, 1, T or 1, S], so masks combine with `combine` (logical and)
and go straight into `research.nn.attention.dot_product_attention(mask=...)`.

- padding: keys that are padding are never attended (a padded position changes no output).
- causal: query t attends keys at positions <= t (+ offset when the queries follow cached keys).
- segments: packed sequences (several examples in one row) attend only inside their own segment.
  Segment id 0 is padding by convention (t5x, MaxText), so a segment mask is also a padding mask.
- window: the sliding window of local attention, a predicate on query and key positions (any
  broadcasting shapes, not rank 4: the banded kernel applies it to its own block layout).

Shapes: B batch, T query length, S key length.
"""

import jax.numpy as jnp


def padding_mask(key_valid):
    """key_valid bool/int [B, S] (1 = real token) -> [B, 1, 1, S]."""
    key_valid = jnp.asarray(key_valid)
    if key_valid.ndim != 2:
        raise ValueError(f"key_valid must be [B, S], got shape {key_valid.shape}.")
    return key_valid.astype(bool)[:, None, None, :]


def causal_mask(query_length: int, key_length: int | None = None, *, offset=0):
    """[1, 1, T, S]: query t (at absolute position t + offset) attends keys 0..t + offset.

    With S = T and offset 0 this is the lower triangle. `offset` may be traced (decoding).
    """
    key_length = query_length if key_length is None else key_length
    query_positions = jnp.arange(query_length)[:, None] + offset
    return (jnp.arange(key_length)[None, :] <= query_positions)[None, None]


def segment_mask(query_segments, key_segments=None):
    """Segment ids int [B, T] and [B, S] (None: the same) -> [B, 1, T, S].

    Attends where the ids are equal and nonzero: id 0 marks padding on either side.
    """
    query_segments = jnp.asarray(query_segments)
    key_segments = query_segments if key_segments is None else jnp.asarray(key_segments)
    if query_segments.ndim != 2 or key_segments.ndim != 2:
        raise ValueError(
            f"segment ids must be [B, T] and [B, S], got {query_segments.shape} and "
            f"{key_segments.shape}."
        )
    same = query_segments[:, :, None] == key_segments[:, None, :]
    real = (query_segments[:, :, None] != 0) & (key_segments[:, None, :] != 0)
    return (same & real)[:, None]


def combine(*masks):
    """Logical and of the masks that are not None (None when all are); shapes broadcast."""
    result = None
    for mask in masks:
        if mask is not None:
            result = mask if result is None else jnp.logical_and(result, mask)
    return result


def window_mask(query_pos, key_pos, window: int, *, causal: bool):
    """Boolean: key_pos lies in query_pos's sliding window (`research.nn.local_attention`'s
    semantics: causal keys query-w < key <= query, bidirectional |query-key| <= w); broadcasts."""
    if causal:
        return (key_pos <= query_pos) & (key_pos > query_pos - window)
    return jnp.abs(query_pos - key_pos) <= window
