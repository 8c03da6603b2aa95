"""Performer attention, FAVOR+ (Choromanski et al., 2021): softmax attention through positive
orthogonal random features, time and memory linear in length.

The softmax kernel exp(q.k) is an expectation over w ~ N(0, I_d):

    exp(q.k) = E_w[ exp(w.q - |q|^2/2) exp(w.k - |k|^2/2) ],

so with m draws, phi(x) = exp(W x - |x|^2/2) / sqrt(m) (positive: no sign cancellations, unlike
sin/cos features) gives phi(q).phi(k) as an unbiased estimate of exp(q.k). Attention becomes

    out_i = phi(q_i) (sum_j phi(k_j) v_j^T) / phi(q_i) (sum_j phi(k_j)),

computed right to left in O(T m H) instead of O(T^2 H). The 1/sqrt(H) scale is folded in as
q, k -> q, k * H^(-1/4). Orthogonal random features: W is built from blocks of H orthogonal rows
(QR of a Gaussian matrix, signs fixed so each row is uniform on the sphere), each row rescaled by
an independent chi(H) norm, so every row is still marginally N(0, I) (the estimate stays
unbiased) while the rows of a block cannot repeat a direction (lower variance).

Numerical stabilization: a query's features are divided by exp(its own max logit), a head's key
features by exp(the max over all its keys and features); both factors cancel between numerator and
denominator, so the result is unchanged while exp never overflows. (The key maximum is taken over
the whole sequence: a key whose logits lie ~87 below it underflows to a zero feature in float32.)

Causal attention replaces the sums by prefix sums over j <= i. Here: a chunked `lax.scan`. Chunks of
`chunk_size` positions compute their own causal part as a small masked quadratic form and add the
running state (sum of phi(k_j) v_j^T over earlier chunks, [m, H] per head), so memory is
O(T * chunk + (T / chunk) * m * H) per head with the backward pass (a plain cumsum would hold
O(T * m * H)).

Redraws: `redrawn_projection(rng, step, ...)` draws W from fold_in(rng, step // redraw_every), so
features are fixed for `redraw_every` steps and then change, as the paper's training schedule.

Shapes: q [B,T,N,H], k and v [B,S,K,H] (K divides N; causal needs S = T), W [m, H].
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def _check_positive(name: str, value) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


def orthogonal_random_features(rng, num_features: int, dim: int):
    """W [m, d]: blocks of d orthogonal rows, each row scaled by an independent chi(d) norm."""
    _check_positive("num_features", num_features)
    _check_positive("dim", dim)
    num_blocks = -(-num_features // dim)
    rng_blocks, rng_norms = jax.random.split(rng)
    gaussian = jax.random.normal(rng_blocks, (num_blocks, dim, dim))
    q, r = jnp.linalg.qr(gaussian)
    # Columns of q times sign(diag r): a Haar-distributed orthogonal matrix.
    q = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    rows = jnp.swapaxes(q, -1, -2).reshape(num_blocks * dim, dim)[:num_features]
    norms = jnp.linalg.norm(jax.random.normal(rng_norms, (num_features, dim)), axis=-1)
    return rows * norms[:, None]


def redrawn_projection(rng, step, *, num_features: int, dim: int, redraw_every: int):
    """W [m, d] for training step `step` (int or traced): redrawn every `redraw_every` steps."""
    _check_positive("redraw_every", redraw_every)
    return orthogonal_random_features(
        jax.random.fold_in(rng, step // redraw_every), num_features, dim
    )


def positive_random_features(x, projection, *, stabilize: str | None = None):
    """phi(x) = exp(W x - |x|^2/2 - c) / sqrt(m); x [B,T,K,H], W [m,H] -> [B,T,K,m] float32.

    `stabilize`: None (c = 0: the unbiased estimator itself), 'row' (c = the max over m of each
    position's logits, for queries) or 'all' (c = the max over positions and m per batch entry and
    head, for keys). c is a constant of the attention ratio, so gradients do not flow through it.
    """
    x = x.astype(jnp.float32)
    logits = jnp.einsum("BTKH,MH->BTKM", x, projection.astype(jnp.float32))
    logits = logits - 0.5 * jnp.sum(x * x, axis=-1, keepdims=True)
    if stabilize == "row":
        logits = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    elif stabilize == "all":
        logits = logits - jax.lax.stop_gradient(jnp.max(logits, axis=(1, 3), keepdims=True))
    elif stabilize is not None:
        raise ValueError(f"stabilize must be None, 'row' or 'all', got {stabilize!r}.")
    return jnp.exp(logits) / math.sqrt(projection.shape[0])


def performer_features(q, k, projection, *, scale: float | None = None):
    """Stabilized features of queries [B,T,N,m] and keys [B,S,K,m] for the kernel exp(scale q.k)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    root = math.sqrt(scale)  # exp(scale q.k) = exp((root q).(root k))
    return (
        positive_random_features(q * root, projection, stabilize="row"),
        positive_random_features(k * root, projection, stabilize="all"),
    )


def _causal_chunked(phi_q, phi_k, v, chunk_size: int):
    """Prefix sums by chunks. phi_q [B,T,K,G,m], phi_k [B,T,K,m], v [B,T,K,H] -> num, den."""
    batch, length, num_kv_heads, groups, num_features = phi_q.shape
    head_dim = v.shape[-1]
    chunk = min(chunk_size, length)
    num_chunks = -(-length // chunk)
    pad = num_chunks * chunk - length
    # Padded keys get zero features (they add nothing); padded queries positive ones (no 0/0).
    phi_q = jnp.pad(phi_q, ((0, 0), (0, pad), (0, 0), (0, 0), (0, 0)), constant_values=1.0)
    phi_k = jnp.pad(phi_k, ((0, 0), (0, pad), (0, 0), (0, 0)))
    v = jnp.pad(v, ((0, 0), (0, pad), (0, 0), (0, 0)))

    def chunks(x):  # [B, n*c, ...] -> [n, B, c, ...]
        return jnp.moveaxis(x.reshape(batch, num_chunks, chunk, *x.shape[2:]), 1, 0)

    causal = jnp.tril(jnp.ones((chunk, chunk), jnp.float32))

    def step(carry, inputs):
        state, normalizer = carry  # [B,K,m,H], [B,K,m]: sums over earlier chunks
        pq, pk, vc = inputs
        scores = jnp.einsum("BCKGM,BDKM->BKGCD", pq, pk) * causal
        num = jnp.einsum("BKGCD,BDKH->BCKGH", scores, vc)
        num = num + jnp.einsum("BCKGM,BKMH->BCKGH", pq, state)
        den = jnp.einsum("BKGCD->BCKG", scores) + jnp.einsum("BCKGM,BKM->BCKG", pq, normalizer)
        state = state + jnp.einsum("BDKM,BDKH->BKMH", pk, vc)
        normalizer = normalizer + jnp.sum(pk, axis=1)
        return (state, normalizer), (num, den)

    init = (
        jnp.zeros((batch, num_kv_heads, num_features, head_dim), jnp.float32),
        jnp.zeros((batch, num_kv_heads, num_features), jnp.float32),
    )
    _, (num, den) = jax.lax.scan(step, init, (chunks(phi_q), chunks(phi_k), chunks(v)))

    def unchunk(x):
        return jnp.moveaxis(x, 0, 1).reshape(batch, num_chunks * chunk, *x.shape[3:])[:, :length]

    return unchunk(num), unchunk(den)


def performer_attention(
    q, k, v, projection, *, causal: bool, scale: float | None = None, chunk_size: int = 64
):
    """FAVOR+ attention with random features W = `projection`.

    Shapes: q [B,T,N,H], k [B,S,K,H], v [B,S,K,H], projection [m,H] -> [B,T,N,H] (v's dtype).

    Args:
      causal: prefix sums over keys j <= i (needs S = T), by a chunked scan.
      scale: the softmax temperature, None is 1/sqrt(H).
      chunk_size: positions per chunk of the causal scan (>= 1).
    """
    _check_positive("chunk_size", chunk_size)
    if not q.ndim == k.ndim == v.ndim == 4 or k.shape != v.shape:
        raise ValueError(
            f"q, k, v must be [B,T,N,H], [B,S,K,H], [B,S,K,H]; got {q.shape}, {k.shape}, {v.shape}."
        )
    batch, length, num_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    if k.shape[0] != batch or k.shape[3] != head_dim or num_heads % num_kv_heads:
        raise ValueError(
            f"q {q.shape} and k {k.shape} must agree on batch and head width, and k's heads must "
            "divide q's heads."
        )
    if projection.ndim != 2 or projection.shape[1] != head_dim:
        raise ValueError(
            f"projection must be [m, H] with H={head_dim}, got {projection.shape}; build it with "
            "orthogonal_random_features(rng, m, H)."
        )
    if causal and k.shape[1] != length:
        raise ValueError(
            f"Causal Performer attention is self-attention: keys' length {k.shape[1]} must equal "
            f"the queries' {length}."
        )
    phi_q, phi_k = performer_features(q, k, projection, scale=scale)
    groups = num_heads // num_kv_heads
    phi_q = phi_q.reshape(batch, length, num_kv_heads, groups, -1)
    values = v.astype(jnp.float32)
    if causal:
        num, den = _causal_chunked(phi_q, phi_k, values, chunk_size)
    else:
        num = jnp.einsum("BTKGM,BKMH->BTKGH", phi_q, jnp.einsum("BSKM,BSKH->BKMH", phi_k, values))
        den = jnp.einsum("BTKGM,BKM->BTKG", phi_q, jnp.sum(phi_k, axis=1))
    out = num / den[..., None]
    return out.reshape(batch, length, num_heads, head_dim).astype(v.dtype)


class Performer(nn.Module):
    """FAVOR+ attention settings; no parameters. Shapes: q [B,T,N,H], k, v [B,S,K,H] -> [B,T,N,H].

    The random features come from `redrawn_projection(jax.random.key(seed), step, ...)`: pass the
    training step to redraw them every `redraw_every` steps (and the same step at evaluation to use
    the current draw). Give each layer its own `seed` for independent features per layer.
    """

    num_features: int
    redraw_every: int = 1000
    seed: int = 0
    chunk_size: int = 64
    scale: float | None = None

    @nn.compact
    def __call__(self, q, k, v, *, causal: bool, step=0):
        projection = redrawn_projection(
            jax.random.key(self.seed),
            step,
            num_features=self.num_features,
            dim=q.shape[-1],
            redraw_every=self.redraw_every,
        )
        return performer_attention(
            q, k, v, projection, causal=causal, scale=self.scale, chunk_size=self.chunk_size
        )


def masked_performer_attention(q, k, v, projection, *, causal: bool, mask, scale: float):
    """FAVOR+ in its quadratic form phi(q) phi(k)^T, masked: equal to `performer_attention` where
    both apply, for any boolean mask [B,N,T,S] (padding, a KV cache's slots). O(T*S) memory.

    Shapes: q [B,T,N,H], k and v [B,S,K,H] (K divides N), mask bool [B,N,T,S] -> [B,T,N,H].
    `research.nn.attention.dot_product_attention` takes this path when the Performer has a mask."""
    batch, query_length, num_heads, head_dim = q.shape
    num_kv_heads, key_length = k.shape[2], k.shape[1]
    groups = num_heads // num_kv_heads
    phi_q, phi_k = performer_features(q, k, projection, scale=scale)  # [B,T,N,m], [B,S,K,m]
    phi_q = phi_q.reshape(batch, query_length, num_kv_heads, groups, -1)
    scores = jnp.einsum("BTKGM,BSKM->BKGTS", phi_q, phi_k)
    scores = scores.reshape(batch, num_heads, query_length, key_length)
    if causal:
        mask = jnp.logical_and(mask, jnp.tril(jnp.ones((query_length, key_length), bool)))
    scores = jnp.where(mask, scores, 0.0)
    normalizer = jnp.sum(scores, axis=-1, keepdims=True)
    # A query with no visible key (a padding row) gets zeros instead of 0/0.
    probs = scores / jnp.where(normalizer > 0, normalizer, 1.0)
    probs = probs.reshape(batch, num_kv_heads, groups, query_length, key_length)
    out = jnp.einsum("BKGTS,BSKH->BTKGH", probs, v.astype(jnp.float32))
    return out.reshape(batch, query_length, num_heads, head_dim).astype(v.dtype)
