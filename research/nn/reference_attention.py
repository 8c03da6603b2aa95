"""The einsum reference path of scaled dot-product attention, and the masked softmax under it.

`reference_attention` is softmax(q k^T * scale + bias, masked) v written out with einsums: any
dtype, any device, readable, and the path every other implementation is tested against.
`research.nn.attention.dot_product_attention` dispatches to it (implementation=None) and
`research.nn.local_attention` uses it for Longformer's global rows; both import this module, and it
imports neither, so the attention modules form no import cycle.

Fully masked rows (a query that may attend no key: a padding query, a row of False in a dense
mask) get all-zero probabilities, so their output is exactly 0 and no gradient flows through them
into q, k, v or the bias. This is the project's one convention: `masked_softmax` here, the
recurrent decoder's attention (`research.rnn.attention`), and every implementation behind
`dot_product_attention` follow it. (`jax.nn.dot_product_attention` alone gives such rows a
uniform distribution over the keys; `dot_product_attention` zeroes them after it.)

Shapes: q [B,T,N,H], k and v [B,S,K,H] with K dividing N (grouped-query attention).
"""

import jax
import jax.numpy as jnp

# Masked scores: the most negative finite float32 (not -inf, so no row computes inf - inf).
MASKED = float(jnp.finfo(jnp.float32).min)


def masked_softmax(scores, mask):
    """Softmax over the last axis in float32; masked-out entries are exactly 0, and a row with no
    True entry is all zeros (not a uniform row, not NaN), with a zero gradient.

    Shapes: scores [..., S], mask bool broadcastable to scores (True = may attend) or None ->
    float32 like scores (broadcast with the mask). Partially masked rows equal the softmax over
    their True entries alone.
    """
    scores = scores.astype(jnp.float32)
    if mask is None:
        return jax.nn.softmax(scores, axis=-1)
    probs = jax.nn.softmax(jnp.where(mask, scores, MASKED), axis=-1)
    # A fully masked row has the same (masked) score everywhere and would come out uniform.
    return jnp.where(mask, probs, 0.0)


def reference_attention(
    q, k, v, *, causal: bool, mask=None, bias=None, scale: float, dropout_rate=0.0, dropout_rng=None
):
    """softmax(q k^T * scale + bias, masked) v by einsums; fully masked rows give 0.

    Shapes: q [B,T,N,H], k [B,S,K,H], v [B,S,K,H] -> [B,T,N,H] in v's dtype; mask (bool, True =
    may attend) and bias (float) broadcastable to [B,N,T,S]. Scores and softmax in float32, the
    probabilities cast to v's dtype before the value contraction. `causal` is top-left aligned
    (query i sees keys j <= i). Dropout on the probabilities when `dropout_rate > 0` and a
    `dropout_rng` is given. Arguments are checked by `research.nn.attention.dot_product_attention`.
    """
    batch, query_length, num_heads, head_dim = q.shape
    key_length, num_kv_heads = k.shape[1], k.shape[2]
    # Grouped heads: query head n = g * (N/K) + r reads key/value head g, for every r < N/K.
    groups = num_heads // num_kv_heads
    q = q.reshape(batch, query_length, num_kv_heads, groups, head_dim)
    scores = jnp.einsum("BTKGH,BSKH->BKGTS", q, k, preferred_element_type=jnp.float32)
    scores = scores.reshape(batch, num_heads, query_length, key_length)
    scores = scores.astype(jnp.float32) * scale
    if bias is not None:
        scores = scores + bias
    if causal:
        causal_mask = jnp.tril(jnp.ones((query_length, key_length), dtype=bool))
        mask = causal_mask if mask is None else jnp.logical_and(mask, causal_mask)
    probs = masked_softmax(scores, mask)
    if dropout_rate > 0.0 and dropout_rng is not None:
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
    probs = probs.astype(v.dtype).reshape(batch, num_kv_heads, groups, query_length, -1)
    out = jnp.einsum("BKGTS,BSKH->BTKGH", probs, v)
    return out.reshape(batch, query_length, num_heads, head_dim)


def zero_unseen_rows(out, mask, causal: bool):
    """`out` [B,T,N,H] with 0 in the rows that see no key under `mask` [B|1,N|1,T|1,S] (and the
    top-left causal mask): this module's fully-masked-row convention, applied to a kernel's
    output that does not follow it (`jax.nn.dot_product_attention`'s XLA and cuDNN paths)."""
    if mask is None:
        return out  # every row sees at least key 0
    if causal:
        t, s = out.shape[1], mask.shape[-1]
        mask = jnp.logical_and(mask, jnp.tril(jnp.ones((t, s), dtype=bool)))
    seen = jnp.any(mask, axis=-1)  # [B|1,N|1,T|1]
    seen = jnp.moveaxis(seen, 1, 2)[..., None]  # [B|1,T|1,N|1,1]
    return jnp.where(seen, out, jnp.zeros((), out.dtype))
