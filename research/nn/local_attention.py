"""Sliding-window (local) attention and Longformer's local + global pattern (Beltagy et al., 2020),
computed in a banded layout so memory grows as O(T * w), not O(T^2).

Window semantics (w = `window`):
- causal: query i attends the w keys i-w < j <= i (itself and the w-1 before it);
- bidirectional: query i attends the 2w+1 keys |i-j| <= w.

Banded layout: queries are cut into blocks of w positions. A causal window of query block c lies in
key blocks c-1 and c; a bidirectional one in c-1, c and c+1. Each query block scores only those
2w (3w) keys and masks the rest of the band inside, so scores are [T/w, w, 2w or 3w] per head
instead of [T, T].

Global tokens (Longformer): positions listed in `global_positions` attend to every key and are
attended by every query, on top of the window. Columns: each query also scores the G global keys
(those outside its own window, so no key is counted twice), concatenated to its band before one
softmax, which is the same as merging the two softmax statistics. Rows: the G global queries are
computed densely against all T keys ([G, T] scores) and replace their banded rows. Memory stays
O(T * (w + G)). Longformer gives global tokens their own query/key/value projections; here they share
the layer's projections, so the pattern (and its dense equivalent, `local_mask`) is all that changes.
With `causal=True` global tokens still respect causality (a global query reads keys <= itself, a
global key is read by queries >= itself).

Shapes: q [B,T,N,H], k and v [B,T,K,H] (self-attention: keys at the queries' positions), K divides
N (grouped-query attention as in `research.nn.attention`). The dense reference for every pattern
is `research.nn.reference_attention` under `local_mask`.
"""

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from research.nn.masks import window_mask
from research.nn.reference_attention import MASKED, reference_attention


def _check_window(window) -> int:
    if not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(
            f"window must be an integer >= 1 (the number of keys on each side), got {window!r}."
        )
    return int(window)


def _check_globals(global_positions: Sequence[int], length: int) -> np.ndarray:
    positions = np.asarray(global_positions, dtype=np.int64).reshape(-1)
    if positions.size and (
        positions.min() < 0 or positions.max() >= length or len(set(positions)) != positions.size
    ):
        raise ValueError(
            f"global_positions must be distinct positions in [0, {length}), got "
            f"{list(global_positions)}; pass each global token's index once."
        )
    return positions


def local_mask(length: int, window: int, *, causal: bool, global_positions: Sequence[int] = ()):
    """The dense boolean mask [1, 1, T, T] of `local_attention`'s pattern (True = may attend).

    `research.nn.attention.dot_product_attention(q, k, v, causal=False, mask=local_mask(...))` computes the same output
    as `local_attention` with O(T^2) memory: the reference the banded form is tested against.
    """
    window = _check_window(window)
    positions = _check_globals(global_positions, length)
    i = jnp.arange(length)[:, None]
    j = jnp.arange(length)[None, :]
    is_global = jnp.zeros(length, bool).at[positions].set(True)
    mask = window_mask(i, j, window, causal=causal) | is_global[:, None] | is_global[None, :]
    if causal:
        mask = mask & (j <= i)
    return mask[None, None]


def local_attention(
    q,
    k,
    v,
    *,
    window: int,
    causal: bool,
    global_positions: Sequence[int] = (),
    scale: float | None = None,
    key_mask=None,
):
    """Sliding-window attention (+ Longformer global tokens), banded: O(T * (w + G)) memory.

    Shapes: q [B,T,N,H], k [B,T,K,H], v [B,T,K,H] -> [B,T,N,H].

    Args:
      q, k, v: queries, keys, values (any float dtype; scores and softmax in float32).
      window: w >= 1; see the module docstring for the causal and bidirectional windows.
      causal: causal window (and causal global tokens) or symmetric window.
      global_positions: static distinct positions in [0, T) that attend and are attended globally.
      scale: multiplies the scores; None is 1/sqrt(H).
      key_mask: optional bool [B,T], True = a real key (padding: False). No query attends a
        masked key; cut into bands like the keys, so memory stays banded. A query that sees no
        real key (a padding query in a window of padding) outputs 0 with no gradient, as on the
        dense path (`research.nn.reference_attention`); real queries see at least themselves.
    """
    window = _check_window(window)
    if not q.ndim == k.ndim == v.ndim == 4 or k.shape != v.shape:
        raise ValueError(
            f"q, k, v must be [B,T,N,H], [B,T,K,H], [B,T,K,H]; got {q.shape}, {k.shape}, {v.shape}."
        )
    batch, length, num_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    if k.shape[:2] != (batch, length) or k.shape[3] != head_dim or num_heads % num_kv_heads:
        raise ValueError(
            f"Local attention is self-attention: k {k.shape} must have q's {q.shape} batch, "
            "length and head width, and its heads must divide q's heads."
        )
    positions = _check_globals(global_positions, length)
    if key_mask is not None and jnp.shape(key_mask) != (batch, length):
        raise ValueError(
            f"key_mask must be bool [B,T] = {(batch, length)} (True = real key), got "
            f"{jnp.shape(key_mask)}."
        )
    key_mask = None if key_mask is None else jnp.asarray(key_mask, bool)
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    groups = num_heads // num_kv_heads
    num_blocks = -(-length // window)
    padded = num_blocks * window
    key_blocks = 2 if causal else 3  # key blocks per query block: c-1, c (, c+1)

    # Queries [B, C, W, K, G, H]; key windows [B, C, key_blocks * W, K, H].
    qb = jnp.pad(q, ((0, 0), (0, padded - length), (0, 0), (0, 0)))
    qb = qb.reshape(batch, num_blocks, window, num_kv_heads, groups, head_dim)
    kv_pad = ((0, 0), (window, padded - length + (key_blocks - 2) * window), (0, 0), (0, 0))

    def band(x):
        """[B,T,...] -> [B, C, key_blocks * W, ...]: each query block's key window."""
        x = jnp.pad(x, kv_pad[: x.ndim]).reshape(
            batch, num_blocks + key_blocks - 1, window, *x.shape[2:]
        )
        return jnp.concatenate([x[:, s : s + num_blocks] for s in range(key_blocks)], axis=2)

    kb, vb = band(k), band(v)
    query_pos = (jnp.arange(num_blocks)[:, None] * window + jnp.arange(window))[:, :, None]
    key_pos = (jnp.arange(num_blocks)[:, None] - 1) * window + jnp.arange(key_blocks * window)
    key_pos = key_pos[:, None, :]  # [C, 1, key_blocks * W]
    band_mask = (
        (key_pos >= 0) & (key_pos < length) & window_mask(query_pos, key_pos, window, causal=causal)
    )
    if key_mask is not None:  # [C,W,S] & [B,1,1,C,1,S] -> [B,1,1,C,W,S]
        band_mask = band_mask & band(key_mask)[:, None, None, :, None, :]

    scores = jnp.einsum("BCWKGH,BCSKH->BKGCWS", qb, kb, preferred_element_type=jnp.float32)
    scores = jnp.where(band_mask, scores.astype(jnp.float32) * scale, MASKED)
    if positions.size:
        # Global columns: keys outside the query's own window (inside it the band has them).
        kg, vg = k[:, positions], v[:, positions]  # [B, G', K, H]
        global_pos = jnp.asarray(positions)[None, None, :]
        column_mask = ~window_mask(query_pos, global_pos, window, causal=causal)
        if causal:
            column_mask = column_mask & (global_pos <= query_pos)
        if key_mask is not None:  # [C,W,G] & [B,1,1,1,1,G]
            column_mask = column_mask & key_mask[:, positions][:, None, None, None, None, :]
        global_scores = jnp.einsum(
            "BCWKGH,BJKH->BKGCWJ", qb, kg, preferred_element_type=jnp.float32
        )
        global_scores = jnp.where(column_mask, global_scores.astype(jnp.float32) * scale, MASKED)
        scores = jnp.concatenate([scores, global_scores], axis=-1)
    probs = jax.nn.softmax(scores, axis=-1)
    # A query that sees no key (padding in a window of padding): zeros, the project's convention.
    seen = jnp.max(scores, axis=-1, keepdims=True) > MASKED
    probs = jnp.where(seen, probs, 0.0).astype(v.dtype)
    out = jnp.einsum("BKGCWS,BCSKH->BCWKGH", probs[..., : key_blocks * window], vb)
    if positions.size:
        out = out + jnp.einsum("BKGCWJ,BJKH->BCWKGH", probs[..., key_blocks * window :], vg)
    out = out.reshape(batch, padded, num_heads, head_dim)[:, :length]
    if positions.size:
        # Global rows: dense over all keys (causal: keys up to the global query's position).
        row_mask = None
        if causal:
            row_mask = (jnp.arange(length)[None, :] <= jnp.asarray(positions)[:, None])[None, None]
        if key_mask is not None:
            keys = key_mask[:, None, None, :]
            row_mask = keys if row_mask is None else row_mask & keys
        rows = reference_attention(q[:, positions], k, v, causal=False, mask=row_mask, scale=scale)
        out = out.at[:, positions].set(rows)
    return out
