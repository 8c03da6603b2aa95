"""Blockwise (flash) attention in pure JAX: exact attention in memory linear in the length.

FlashAttention's algorithm (Dao et al., 2022) with FlashAttention-2's backward pass (Dao, 2023),
written with `lax` loops instead of a fused kernel. Queries go in blocks of `block_q` rows; for each
query block the keys and values stream past in blocks of `block_k`, and an online softmax keeps
per row a running max m, a running sum l of exp(score - m) and an accumulator of exp(score - m) v,
rescaled by exp(m_old - m_new) whenever the max grows. No [T,S] array is ever built: the largest
intermediate is one [B,N,block_q,block_k] block of scores.

The backward pass (`jax.custom_vjp`) stores only q, k, v, the output O and the logsumexp per query
row, and recomputes each block of probabilities P = exp(scores - lse) from them. With
D = rowsum(dO * O): dV += P^T dO, dS = P * (dO V^T - D), dQ += scale dS K, dK += scale dS^T Q.
It loops over key blocks (accumulating dK, dV of the block) and, inside, over query blocks
(adding into dQ).

Causal skipping: query block i visits only key blocks 0..j_max(i) (those holding a key at or
before its last row), and in the backward pass key block j visits only query blocks i_min(j)..end.
The trip counts are computed from the block index (a `lax.fori_loop` with a bound that depends on
the outer loop's index, i.e. a while loop), not from the data: the causal pattern is known from
positions alone, so the skipped blocks cost nothing (no `lax.cond` per block, no wasted score
blocks), and reverse-mode differentiation of the while loop is never needed because the backward
pass is written by hand. Padding and segment masks are data-dependent and applied per element
(a block whose keys are all padding is still computed).

Softmax statistics (m, l, lse, D) and score blocks are float32 whatever the input dtype; the
probabilities are cast to v's dtype before the value contraction, as in the einsum reference path.

Fully masked rows (no key may be attended, e.g. a padding query, or a dense mask row of False)
follow the project's convention (`research.nn.reference_attention`): their output is exactly 0
and no gradient flows through them, as on the einsum path.
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

# Masked scores: the most negative finite float32, as in research.nn.reference_attention (not
# -inf, so a fully masked row has no NaN).
_MASKED = float(jnp.finfo(jnp.float32).min)


class _Static(NamedTuple):
    causal: bool
    scale: float
    block_q: int
    block_k: int
    num_q_blocks: int
    num_k_blocks: int
    key_length: int  # S before internal padding


def blockwise_attention(
    q,
    k,
    v,
    *,
    causal: bool,
    key_valid=None,
    query_valid=None,
    query_segment_ids=None,
    key_segment_ids=None,
    mask=None,
    bias=None,
    scale: float | None = None,
    block_q: int = 128,
    block_k: int = 128,
):
    """softmax(q k^T * scale + bias, masked) v in blocks; equals the einsum reference path.

    Shapes: q [B,T,N,H], k and v [B,S,K,H] with K dividing N (grouped-query attention as in
    `research.nn.attention.dot_product_attention`) -> [B,T,N,H] in v's dtype.

    Args:
      causal: query t attends keys s <= t (top-left aligned when T != S).
      key_valid: optional bool [B,S], True = a real key (padding keys are never attended).
      query_valid: optional bool [B,T], False = a query row that attends nothing (its output is
        the fully-masked convention above: 0).
      query_segment_ids, key_segment_ids: optional int [B,T] and [B,S] (key ids None: the query
        ids, self-attention): attend only where the ids are equal and nonzero (id 0 is padding,
        as in `research.nn.masks.segment_mask`).
      mask: optional dense bool mask broadcastable to [B,N,T,S] (each dim 1 or full), sliced per
        block. Memory is then that of the mask itself: linear when its T dim is 1 (a key padding
        mask [B,1,1,S]), quadratic for a full [.,.,T,S] mask (cached decoding passes one).
      bias: optional float additive score bias broadcastable to [B,N,T,S] (T5's relative
        positions, ALiBi), sliced per block and differentiated (its gradient has its shape).
      scale: multiplies q.k; None is 1/sqrt(H).
      block_q, block_k: block sizes (clipped to T and S); lengths that are not multiples are
        padded internally and the padding masked.
    """
    if not q.ndim == k.ndim == v.ndim == 4 or k.shape != v.shape:
        raise ValueError(
            f"q, k, v must be [B,T,N,H], [B,S,K,H], [B,S,K,H]; got {q.shape}, {k.shape}, {v.shape}."
        )
    batch, length, num_heads, head_dim = q.shape
    key_length, num_kv_heads = k.shape[1], k.shape[2]
    if k.shape[0] != batch or k.shape[3] != head_dim or num_heads % num_kv_heads:
        raise ValueError(
            f"q {q.shape} and k {k.shape} must agree on batch and head width, and k's heads must "
            "divide q's heads [B,_,N,H] / [B,_,K,H]."
        )
    for name, size in (("block_q", block_q), ("block_k", block_k)):
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive int (rows per block), got {size!r}.")
    groups = num_heads // num_kv_heads
    bq, bk = min(block_q, length), min(block_k, key_length)
    nq, nk = -(-length // bq), -(-key_length // bk)
    pad_q, pad_k = nq * bq - length, nk * bk - key_length
    static = _Static(
        causal=bool(causal),
        scale=1.0 / math.sqrt(head_dim) if scale is None else float(scale),
        block_q=bq,
        block_k=bk,
        num_q_blocks=nq,
        num_k_blocks=nk,
        key_length=key_length,
    )

    def rows(name, array, size, pad, dtype, fill):
        """A [B,size] per-position array, checked and padded to the block multiple."""
        array = jnp.asarray(array)
        if array.shape != (batch, size):
            raise ValueError(f"{name} must be [B,{size}] = {(batch, size)}, got {array.shape}.")
        return jnp.pad(array.astype(dtype), ((0, 0), (0, pad)), constant_values=fill)

    aux = {}
    # Key validity always exists: it also masks the internal padding keys.
    if key_valid is None:
        aux["key_valid"] = jnp.arange(nk * bk)[None, :] < key_length
    else:
        aux["key_valid"] = rows("key_valid", key_valid, key_length, pad_k, bool, False)
    if query_valid is not None:
        aux["query_valid"] = rows("query_valid", query_valid, length, pad_q, bool, False)
    if key_segment_ids is not None and query_segment_ids is None:
        raise ValueError("key_segment_ids need query_segment_ids too (int [B,T]); pass both.")
    if query_segment_ids is not None:
        if key_segment_ids is None:
            if key_length != length:
                raise ValueError(
                    f"Without key_segment_ids the keys reuse the query ids, which needs S == T; "
                    f"got T={length}, S={key_length}: pass key_segment_ids [B,S]."
                )
            key_segment_ids = query_segment_ids
        aux["query_segments"] = rows(
            "query_segment_ids", query_segment_ids, length, pad_q, jnp.int32, 0
        )
        aux["key_segments"] = rows(
            "key_segment_ids", key_segment_ids, key_length, pad_k, jnp.int32, 0
        )
    full = (batch, num_heads, length, key_length)
    if mask is not None:
        aux["mask"] = _dense_blocks("mask", mask, bool, full, num_kv_heads, pad_q, pad_k)
    if bias is not None:
        bias = _dense_blocks("bias", bias, jnp.float32, full, num_kv_heads, pad_q, pad_k)

    q = jnp.pad(q, ((0, 0), (0, pad_q), (0, 0), (0, 0)))
    k, v = (jnp.pad(x, ((0, 0), (0, pad_k), (0, 0), (0, 0))) for x in (k, v))
    q = q.reshape(batch, nq * bq, num_kv_heads, groups, head_dim)
    out = _flash(static, q, k, v, bias, aux)  # [B,Tp,K,G,H]
    return out.reshape(batch, nq * bq, num_heads, head_dim)[:, :length]


def _dense_blocks(name, array, dtype, full, num_kv_heads, pad_q, pad_k):
    """A mask or bias broadcastable to [B,N,T,S] -> [B|1, K|1, G|1, Tp|1, Sp|1], padded."""
    array = jnp.asarray(array, dtype)
    if array.ndim > 4:
        raise ValueError(f"{name} must broadcast to [B,N,T,S] = {full}, got shape {array.shape}.")
    array = array.reshape((1,) * (4 - array.ndim) + array.shape)
    if any(d not in (1, f) for d, f in zip(array.shape, full, strict=True)):
        raise ValueError(
            f"{name} must broadcast to [B,N,T,S] = {full} with each dim 1 or full, got shape "
            f"{array.shape}."
        )
    b, n, t, s = array.shape
    fill = False if dtype is bool else 0.0
    array = jnp.pad(
        array,
        ((0, 0), (0, 0), (0, pad_q if t > 1 else 0), (0, pad_k if s > 1 else 0)),
        constant_values=fill,
    )
    heads = (num_kv_heads, n // num_kv_heads) if n > 1 else (1, 1)
    return array.reshape(b, *heads, *array.shape[2:])


def _slice(array, start, size, axis):
    """array[..., start:start+size, ...] along `axis` unless that dim is broadcast (size 1)."""
    if array.shape[axis] == 1:
        return array
    return lax.dynamic_slice_in_dim(array, start, size, axis)


def _scores(static, q_blk, k_blk, bias, aux, i, j):
    """Masked float32 scores of query block i against key block j: [B,K,G,bq,bk].

    q_blk [B,bq,K,G,H], k_blk [B,bk,K,H].
    """
    bq, bk = static.block_q, static.block_k
    scores = jnp.einsum("BTKGH,BSKH->BKGTS", q_blk, k_blk, preferred_element_type=jnp.float32)
    scores = scores.astype(jnp.float32) * static.scale
    if bias is not None:
        scores = scores + _slice(_slice(bias, i * bq, bq, 3), j * bk, bk, 4)
    valid = _slice(aux["key_valid"], j * bk, bk, 1)[:, None, None, None, :]
    if static.causal:
        query_pos = i * bq + jnp.arange(bq)
        key_pos = j * bk + jnp.arange(bk)
        valid = valid & (key_pos[None, :] <= query_pos[:, None])
    if "query_valid" in aux:
        valid = valid & _slice(aux["query_valid"], i * bq, bq, 1)[:, None, None, :, None]
    if "query_segments" in aux:
        qs = _slice(aux["query_segments"], i * bq, bq, 1)[:, :, None]
        ks = _slice(aux["key_segments"], j * bk, bk, 1)[:, None, :]
        valid = valid & ((qs == ks) & (qs != 0) & (ks != 0))[:, None, None]
    if "mask" in aux:
        valid = valid & _slice(_slice(aux["mask"], i * bq, bq, 3), j * bk, bk, 4)
    return jnp.where(valid, scores, _MASKED)


def _last_key_block(static, i):
    """Key blocks 0..result-1 hold a key that query block i may see (all of them unless causal)."""
    if not static.causal:
        return static.num_k_blocks
    last_row = (i + 1) * static.block_q - 1
    return jnp.minimum(static.num_k_blocks, last_row // static.block_k + 1)


def _first_query_block(static, j):
    """Query blocks result..end hold a row that may see key block j (all of them unless causal)."""
    if not static.causal:
        return 0
    return (j * static.block_k) // static.block_q


def _blocks(x, size):
    """[B,L,...] -> [L/size, B, size, ...]."""
    return jnp.moveaxis(x.reshape(x.shape[0], -1, size, *x.shape[2:]), 1, 0)


def _unblocks(x):
    """[L/size, B, size, ...] -> [B, L, ...]."""
    x = jnp.moveaxis(x, 0, 1)
    return x.reshape(x.shape[0], -1, *x.shape[3:])


def _attended(lse):
    """False on the fully masked rows (lse at the masked value): [B,Tp,K,G] -> [B,Tp,K,G,1].
    A NaN lse counts as attended, so NaN inputs stay visible in the output."""
    return ~(lse < 0.5 * _MASKED)[..., None]


def _fallback(lse, out):
    """Fully masked rows -> 0. lse [B,Tp,K,G], out [B,Tp,K,G,H]."""
    return jnp.where(_attended(lse), out, jnp.zeros((), out.dtype))


def _forward(static, q, k, v, bias, aux):
    """Output [B,Tp,K,G,H] (v's dtype) and logsumexp [B,Tp,K,G] (float32)."""
    qb, kb, vb = _blocks(q, static.block_q), _blocks(k, static.block_k), _blocks(v, static.block_k)
    batch, bq, num_kv_heads, groups, head_dim = qb.shape[1:]

    def query_block(i):
        q_blk = qb[i]

        def step(j, carry):
            m, total, acc = carry
            s = _scores(static, q_blk, kb[j], bias, aux, i, j)
            m_new = jnp.maximum(m, s.max(-1))
            p = jnp.exp(s - m_new[..., None])
            correction = jnp.exp(m - m_new)
            total = total * correction + p.sum(-1)
            pv = jnp.einsum(
                "BKGTS,BSKH->BKGTH", p.astype(v.dtype), vb[j], preferred_element_type=jnp.float32
            )
            return m_new, total, acc * correction[..., None] + pv

        stats = (batch, num_kv_heads, groups, bq)
        init = (
            jnp.full(stats, -jnp.inf, jnp.float32),
            jnp.zeros(stats, jnp.float32),
            jnp.zeros((*stats, head_dim), jnp.float32),
        )
        m, total, acc = lax.fori_loop(0, _last_key_block(static, i), step, init)
        # total >= 1: the row's largest score contributes exp(0), masked or not.
        out = (acc / total[..., None]).astype(v.dtype)
        return jnp.moveaxis(out, 3, 1), jnp.moveaxis(m + jnp.log(total), 3, 1)

    out, lse = lax.map(query_block, jnp.arange(static.num_q_blocks))
    out, lse = _unblocks(out), _unblocks(lse)
    return _fallback(lse, out), lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _flash(static, q, k, v, bias, aux):
    return _forward(static, q, k, v, bias, aux)[0]


def _flash_fwd(static, q, k, v, bias, aux):
    out, lse = _forward(static, q, k, v, bias, aux)
    return out, (q, k, v, bias, aux, out, lse)


def _flash_bwd(static, residuals, d_out):
    q, k, v, bias, aux, out, lse = residuals
    bq, bk = static.block_q, static.block_k
    # Fully masked rows output a constant 0: no cotangent flows through them (and their D is 0).
    d_out = jnp.where(_attended(lse), d_out, 0)
    delta = jnp.sum(d_out.astype(jnp.float32) * out.astype(jnp.float32), axis=-1)  # D [B,Tp,K,G]

    qb, dob = _blocks(q, bq), _blocks(d_out, bq)
    lse_b, delta_b = (jnp.moveaxis(_blocks(x, bq), 2, -1) for x in (lse, delta))  # [nq,B,K,G,bq]
    kb, vb = _blocks(k, bk), _blocks(v, bk)

    def key_block(carry, j):
        k_blk, v_blk = kb[j], vb[j]

        def step(i, inner):
            dq, dbias, dk, dv = inner
            q_blk, do_blk = qb[i], dob[i]
            s = _scores(static, q_blk, k_blk, bias, aux, i, j)
            p = jnp.exp(s - lse_b[i][..., None])  # [B,K,G,bq,bk]; 0 where masked
            dv = dv + jnp.einsum(
                "BKGTS,BTKGH->BSKH",
                p.astype(d_out.dtype),
                do_blk,
                preferred_element_type=jnp.float32,
            )
            dp = jnp.einsum("BTKGH,BSKH->BKGTS", do_blk, v_blk, preferred_element_type=jnp.float32)
            ds = p * (dp - delta_b[i][..., None])  # d(loss)/d(scaled, biased scores)
            dq = dq.at[i].add(static.scale * jnp.einsum("BKGTS,BSKH->BTKGH", ds, k_blk))
            dk = dk + static.scale * jnp.einsum("BKGTS,BTKGH->BSKH", ds, q_blk)
            if dbias is not None:
                dbias = _add_block(dbias, ds, i * bq, j * bk)
            return dq, dbias, dk, dv

        dq, dbias = carry
        zeros = jnp.zeros(k_blk.shape, jnp.float32)
        dq, dbias, dk, dv = lax.fori_loop(
            _first_query_block(static, j), static.num_q_blocks, step, (dq, dbias, zeros, zeros)
        )
        return (dq, dbias), (dk, dv)

    dq0 = jnp.zeros(qb.shape, jnp.float32)
    dbias0 = None if bias is None else jnp.zeros(bias.shape, jnp.float32)
    (dq, dbias), (dk, dv) = lax.scan(key_block, (dq0, dbias0), jnp.arange(static.num_k_blocks))
    dq, dk, dv = _unblocks(dq), _unblocks(dk), _unblocks(dv)
    no_grad = jax.tree.map(lambda _: None, aux)
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), dbias, no_grad


def _add_block(total, block, t0, s0):
    """total[..., t0:t0+bq, s0:s0+bk] += block, summed over the dims where `total` broadcasts."""
    axes = tuple(a for a in range(5) if total.shape[a] == 1 and block.shape[a] > 1)
    block = jnp.sum(block, axis=axes, keepdims=True)
    start = (0, 0, 0, t0 if total.shape[3] > 1 else 0, s0 if total.shape[4] > 1 else 0)
    current = lax.dynamic_slice(total, start, block.shape)
    return lax.dynamic_update_slice(total, current + block, start)


_flash.defvjp(_flash_fwd, _flash_bwd)
