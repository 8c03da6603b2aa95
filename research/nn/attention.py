"""Scaled dot-product attention (Vaswani et al., 2017) and a multi-head attention layer.

`dot_product_attention` is the math: the einsum reference path (`research.nn.reference_attention`,
which also holds the fully-masked-row convention: such rows output 0), or a delegation to
`jax.nn.dot_product_attention` (XLA or the cuDNN fused kernel). `MultiHeadAttention` is a thin
parameter holder around it: query/key/value/out projections named as the rest of the project
expects (`query`, `key`, `value`, `out`; LoRA, quantization and checkpoint converters select them
by path). It does self-attention, cross-attention over another sequence (`inputs_kv`, e.g. an
encoder's output), takes an additive score bias (T5's relative positions, ALiBi) and a boolean
mask, and decodes incrementally with a `KVCache` passed in and returned.

Efficient implementations behind the same switch: 'blockwise' (flash attention's algorithm, exact),
'local' (a sliding window, `research.nn.local_attention`: exact on its pattern) and 'performer'
(FAVOR+ random features, `research.nn.performer`: an unbiased estimate of softmax attention).
The layer draws the Performer's random features itself: from a fixed per-layer key, and with
`performer_redraw_every > 0` from `fold_in(key, step // redraw_every)`, where `step` is a counter in
the model-state collection 'performer' that each training apply advances (apply with
`mutable=['performer']`; evaluation reads it without advancing it). A model applied without that
collection (the decoding protocol passes `{'params': ...}` only) uses the draw of step 0.
"""

import math
import zlib

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn.blockwise_attention import blockwise_attention
from research.nn.dense import EinsumDense
from research.nn.kv_cache import KVCache
from research.nn.local_attention import local_attention
from research.nn.masks import window_mask
from research.nn.performer import (
    masked_performer_attention,
    performer_attention,
    redrawn_projection,
)
from research.nn.positional import apply_rotary
from research.nn.reference_attention import reference_attention, zero_unseen_rows

IMPLEMENTATIONS = (None, "xla", "cudnn", "blockwise", "local", "performer")


def _as_rank4(name: str, array, dtype):
    """`array` broadcastable to [B,N,T,S] with leading broadcast dims added (rank <= 4)."""
    if array is None:
        return None
    array = jnp.asarray(array, dtype=dtype)
    if array.ndim > 4:
        raise ValueError(f"{name} must broadcast to [B,N,T,S], got shape {array.shape}.")
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


def dot_product_attention(
    q,
    k,
    v,
    *,
    causal: bool,
    mask=None,
    bias=None,
    scale: float | None = None,
    dropout_rate: float = 0.0,
    dropout_rng=None,
    implementation: str | None = None,
    window: int | None = None,
    projection=None,
):
    """softmax(q k^T * scale + bias, masked) v, per batch entry and head.

    Shapes: q [B,T,N,H], k [B,S,K,H], v [B,S,K,H] -> [B,T,N,H], where K divides N: K = N is
    multi-head attention, 1 < K < N grouped-query attention (each key/value head serves N/K
    consecutive query heads), K = 1 multi-query attention.

    Scores are scaled by 1/sqrt(H): if the entries of q and k are independent with zero mean and
    unit variance, q.k is a sum of H such products and has variance H. Without the scale, scores
    grow like sqrt(H) with the head width, the softmax saturates towards one-hot and its gradients
    vanish; dividing by sqrt(H) keeps the scores at unit variance whatever the head width
    (Vaswani et al., 2017, section 3.2.1).

    Args:
      q, k, v: queries, keys and values; any float dtype. Scores and softmax run in float32, the
        probabilities are cast back to v's dtype before the value contraction.
      causal: query i attends only keys j <= i (top-left aligned when T != S, as in
        `jax.nn.dot_product_attention`; pass `mask` instead for offset queries such as cached
        decoding).
      mask: optional boolean array broadcastable to [B,N,T,S]; True means "may attend".
        Combined with the causal mask by logical and. A query row that may attend no key (a
        padding query) outputs exactly 0 and passes no gradient, whatever the implementation
        (the convention of `research.nn.reference_attention`).
      bias: optional float array broadcastable to [B,N,T,S], added to the scaled scores before
        masking (relative position biases, ALiBi).
      scale: multiplies the scores; None is 1/sqrt(H) (above). T5 passes 1.0: its initialization
        folds the scale into the query weights.
      dropout_rate, dropout_rng: dropout on the attention probabilities (reference path only; the
        fused and blockwise kernels have none, so asking them for it is refused). A rate of 0 or
        no rng: none.
      implementation: None for the einsum reference path (`research.nn.reference_attention`:
        readable, any dtype, any device);
        'xla' or 'cudnn' to call `jax.nn.dot_product_attention`. 'cudnn' is the fast fused path on
        NVIDIA GPUs and needs bfloat16 or float16 inputs and lengths its flash kernel supports
        (T = 1023 is refused, T = 1024 works; feed training windows of 1025 tokens, not 1024).
        'blockwise' is `research.nn.blockwise_attention` (flash attention's algorithm in pure
        JAX: memory linear in the length, causal blocks skipped, any device and dtype; equal to
        the reference path). `mask` and `bias` are sliced per block: a [B,1,1,S] padding mask
        stays linear, a full [.,.,T,S] one costs its own size.
        'local' is sliding-window attention (`research.nn.local_attention`, banded, O(T*w)
        memory; exact on its pattern): self-attention only (S = T), needs `window`. A padding
        mask [B,1,1,S] stays banded; any other `mask`, or a `bias`, runs the same pattern on the
        dense einsum path (window mask and `mask` combined by logical and; O(T^2) memory).
        'performer' is FAVOR+ (`research.nn.performer`) with random features `projection`
        [m,H]: linear in length (causal by a chunked prefix-sum scan). With a `mask` it uses the
        masked quadratic form phi(q) phi(k)^T (the same estimate, O(T*S) memory); it takes no
        `bias` (the features approximate exp(q.k) only).
      window: 'local' only: w >= 1 keys on each side (causal: the w keys j with i-w < j <= i).
      projection: 'performer' only: the random features W [m,H] (`research.nn.performer.
        orthogonal_random_features`; `MultiHeadAttention` draws and redraws them).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"Unknown attention implementation {implementation!r}; expected one of "
            f"{IMPLEMENTATIONS} (None is the einsum reference path)."
        )
    if not q.ndim == k.ndim == v.ndim == 4 or k.shape != v.shape:
        raise ValueError(
            f"q, k, v must be [B,T,N,H], [B,S,K,H], [B,S,K,H]; got {q.shape}, {k.shape}, {v.shape}."
        )
    batch, query_length, num_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    if k.shape[0] != batch or k.shape[3] != head_dim or num_heads % num_kv_heads:
        raise ValueError(
            f"q {q.shape} and k {k.shape} must agree on batch and head width, and k's heads must "
            "divide q's heads [B,_,N,H] / [B,_,K,H]."
        )
    use_dropout = dropout_rate > 0.0 and dropout_rng is not None
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    mask = _as_rank4("mask", mask, bool)
    bias = _as_rank4("bias", bias, jnp.float32)
    if window is not None and implementation != "local":
        raise ValueError(
            f"window={window} is the sliding window of implementation='local', but "
            f"implementation={implementation!r}; set implementation='local' or drop the window."
        )
    if projection is not None and implementation != "performer":
        raise ValueError(
            "projection holds the random features of implementation='performer', but "
            f"implementation={implementation!r}; set implementation='performer' or drop it."
        )
    if implementation is not None:
        if use_dropout:
            raise ValueError(
                f"implementation={implementation!r} has no attention-probability dropout; use "
                "implementation=None for it, or set the attention dropout rate to 0."
            )
        if implementation == "blockwise":
            return blockwise_attention(q, k, v, causal=causal, mask=mask, bias=bias, scale=scale)
        if implementation == "local":
            if not isinstance(window, int) or window < 1:
                raise ValueError(
                    f"implementation='local' needs window, an integer >= 1 (keys on each side), "
                    f"got {window!r}."
                )
            if k.shape[1] != query_length:
                raise ValueError(
                    f"implementation='local' is self-attention: keys' length {k.shape[1]} must "
                    f"equal the queries' {query_length} (cached decoding goes through "
                    "MultiHeadAttention, which applies the window as a mask)."
                )
            if bias is None and (mask is None or mask.shape[1:3] == (1, 1)):
                # No mask, or a key (padding) mask [B|1,1,1,S]: banded.
                key_mask = None if mask is None else jnp.broadcast_to(mask[:, 0, 0], k.shape[:2])
                return local_attention(
                    q, k, v, window=window, causal=causal, scale=scale, key_mask=key_mask
                )
            positions = jnp.arange(query_length)
            local = window_mask(positions[:, None], positions[None, :], window, causal=causal)
            mask = local if mask is None else jnp.logical_and(mask, local)
            implementation = None  # the dense einsum path below, under the window mask
        elif implementation == "performer":
            if projection is None or projection.ndim != 2 or projection.shape[1] != head_dim:
                raise ValueError(
                    f"implementation='performer' needs projection, its random features [m, "
                    f"{head_dim}]; got {None if projection is None else projection.shape}."
                )
            if bias is not None:
                raise ValueError(
                    "implementation='performer' takes no additive score bias (its features "
                    "approximate exp(q.k) alone); use an exact implementation for relative "
                    "position biases or ALiBi."
                )
            if mask is None:
                return performer_attention(q, k, v, projection, causal=causal, scale=scale)
            return masked_performer_attention(
                q, k, v, projection, causal=causal, mask=mask, scale=scale
            )
        else:
            out = jax.nn.dot_product_attention(
                q,
                k,
                v,
                bias=None if bias is None else bias.astype(q.dtype),
                mask=mask,
                scale=scale,
                is_causal=causal,
                implementation=implementation,
            )
            # jax.nn gives a fully masked row a uniform distribution; the project's rows are 0.
            return zero_unseen_rows(out, mask, causal)

    return reference_attention(
        q,
        k,
        v,
        causal=causal,
        mask=mask,
        bias=bias,
        scale=scale,
        dropout_rate=dropout_rate if use_dropout else 0.0,
        dropout_rng=dropout_rng,
    )


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project to N heads of width H, attend, project back to D.

    Shapes: x [B,T,D], inputs_kv [B,S,D] (None: x itself) -> [B,T,D]; with a cache,
    -> ([B,T,D], KVCache). Params: `query` kernel [D,N,H], `key`/`value` kernel [D,K,H] with
    K = `num_kv_heads` (None: N; fewer for grouped- or multi-query attention), biases [N,H] /
    [K,H] unless `use_bias=False` (T5); `out` kernel [N,H,D], bias [D].

    Dropout (when `train`, rng 'dropout'): `dropout_rate` on the output projection (GPT-2's
    resid_pdrop), `attention_dropout_rate` on the attention probabilities (BERT's and GPT-2's
    attention dropout; the reference path only: the other implementations refuse it).

    `implementation='local'` needs `window` (self-attention only); with a cache it decodes on the
    einsum path with the window applied as a mask over the cache's slots (equal to the full
    forward). `implementation='performer'` needs `performer_features` (m); the features are
    redrawn every `performer_redraw_every` training applies (0: one fixed draw), see the module
    docstring; with a cache it decodes by the masked quadratic form over the cached keys (the
    same estimate as the full forward's prefix sums, O(L) per token rather than the recurrent
    form's O(1)).
    """

    num_heads: int
    head_dim: int
    num_kv_heads: int | None = None
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    scale: float | None = None
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    implementation: str | None = None
    window: int | None = None
    performer_features: int | None = None
    performer_redraw_every: int = 0
    # RoPE (`research.nn.positional.apply_rotary`): rotate queries and keys by their positions
    # with this base (10000 in RoFormer and Llama); None: no rotation.
    rotary_base: float | None = None
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    out_kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

    def _check_efficient_settings(self, cross_attention: bool) -> None:
        implementation = self.implementation
        if (self.window is not None) != (implementation == "local"):
            raise ValueError(
                f"implementation={implementation!r} with window={self.window!r}: "
                "implementation='local' needs a window (an integer >= 1) and only it takes one."
            )
        if implementation == "local" and cross_attention:
            raise ValueError(
                "implementation='local' is self-attention (a window over the same positions); "
                "use another implementation for cross-attention."
            )
        if (self.performer_features is not None) != (implementation == "performer"):
            raise ValueError(
                f"implementation={implementation!r} with performer_features="
                f"{self.performer_features!r}: implementation='performer' needs the number of "
                "random features (an integer >= 1, e.g. 64 for head_dim 64) and only it takes one."
            )
        if implementation == "performer" and (
            not isinstance(self.performer_features, int) or self.performer_features < 1
        ):
            raise ValueError(
                f"performer_features must be an integer >= 1, got {self.performer_features!r}."
            )
        if self.performer_redraw_every < 0:
            raise ValueError(
                f"performer_redraw_every must be >= 0 (0: never redraw), got "
                f"{self.performer_redraw_every}."
            )

    def _performer_projection(self, train: bool):
        """W [m,H]: this layer's draw (a key from its path), redrawn on the step counter."""
        key = jax.random.key(zlib.crc32("/".join(self.scope.path).encode()))
        step = 0
        if self.performer_redraw_every > 0 and (
            self.has_variable("performer", "step") or self.is_mutable_collection("performer")
        ):
            counter = self.variable("performer", "step", lambda: jnp.zeros((), jnp.int32))
            step = counter.value
            if train and self.is_mutable_collection("performer") and not self.is_initializing():
                counter.value = step + 1
        return redrawn_projection(
            key,
            step,
            num_features=self.performer_features,
            dim=self.head_dim,
            redraw_every=max(self.performer_redraw_every, 1),
        )

    @nn.compact
    def __call__(
        self,
        x,
        inputs_kv=None,
        *,
        mask=None,
        bias=None,
        causal: bool = False,
        cache: KVCache | None = None,
        train: bool = False,
        positions=None,
    ):
        """Attends from `x` to `inputs_kv` (or to `x`).

        Args:
          x: [B,T,D] queries' inputs.
          inputs_kv: [B,S,D] keys' and values' inputs for cross-attention; None for
            self-attention.
          mask: boolean, broadcastable to [B,N,T,S]; True means "may attend".
          bias: float, broadcastable to [B,N,T,S], added to the scaled scores.
          causal: position t attends only to positions <= t.
          cache: self-attention only: the keys and values of earlier positions. `x` then holds
            the next T positions; their keys and values are appended and the updated cache is
            returned with the output. Masks and biases index the cache's S = capacity keys.
          train: enables dropout.
          positions: int [B,T] or [T], each query's (and key's) position; needed exactly when
            `rotary_base` is set (self-attention only). Keys are rotated before they enter the
            cache, so a cached key keeps the position it was written at.
        """
        if x.ndim != 3:
            raise ValueError(f"MultiHeadAttention expects x of shape [B,T,D], got {x.shape}.")
        if inputs_kv is not None and (inputs_kv.ndim != 3 or inputs_kv.shape[0] != x.shape[0]):
            raise ValueError(
                f"inputs_kv must be [B,S,D] with the batch of x {x.shape}, got {inputs_kv.shape}."
            )
        if cache is not None and inputs_kv is not None:
            raise ValueError(
                "A KV cache is for self-attention; cross-attention keys come from inputs_kv, "
                "which does not change while decoding: pass one or the other."
            )
        self._check_efficient_settings(inputs_kv is not None)
        features = x.shape[-1]
        num_kv_heads = self.num_kv_heads or self.num_heads
        if self.num_heads % num_kv_heads:
            raise ValueError(
                f"num_kv_heads={num_kv_heads} must divide num_heads={self.num_heads} (each "
                "key/value head serves a whole group of query heads)."
            )

        def project(name, inputs, heads):
            return EinsumDense(
                "BTD,DNH->BTNH",
                kernel_shape=(inputs.shape[-1], heads, self.head_dim),
                kernel_axes=("embed", "heads", "kv"),
                bias_axes=("heads", "kv") if self.use_bias else None,
                kernel_init=self.kernel_init,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=name,
            )(inputs)

        kv_inputs = x if inputs_kv is None else inputs_kv
        qkv_axes = ("batch", "length", "heads", "kv")
        q = nn.with_logical_constraint(project("query", x, self.num_heads), qkv_axes)  # [B,T,N,H]
        k = nn.with_logical_constraint(
            project("key", kv_inputs, num_kv_heads), qkv_axes
        )  # [B,S,K,H]
        v = nn.with_logical_constraint(project("value", kv_inputs, num_kv_heads), qkv_axes)
        if (positions is not None) != (self.rotary_base is not None) or (
            positions is not None and inputs_kv is not None
        ):
            raise ValueError(
                f"positions are the rotary (RoPE) positions of self-attention: pass them exactly "
                f"when rotary_base is set (rotary_base={self.rotary_base}, positions "
                f"{'given' if positions is not None else 'missing'}, cross-attention "
                f"{inputs_kv is not None})."
            )
        if positions is not None:
            q = apply_rotary(q, positions, base=self.rotary_base)
            k = apply_rotary(k, positions, base=self.rotary_base)

        implementation = self.implementation
        if cache is not None:
            cache = cache.append(k, v)
            k = nn.with_logical_constraint(cache.key, qkv_axes)  # [B,L,N,H]
            v = nn.with_logical_constraint(cache.value, qkv_axes)
            cache_mask = cache.attention_mask(x.shape[1], causal=causal)  # [T,L]
            if implementation == "local":
                # The einsum path with the window over the cache's slots (queries sit at
                # index - T .. index - 1).
                query_pos = cache.index - x.shape[1] + jnp.arange(x.shape[1])[:, None]
                key_pos = jnp.arange(cache.capacity)[None, :]
                in_window = window_mask(query_pos, key_pos, self.window, causal=causal)
                cache_mask = jnp.logical_and(cache_mask, in_window)
                implementation = None
            mask = cache_mask if mask is None else jnp.logical_and(mask, cache_mask)
            causal = False  # the cache mask already holds it, at the right offset

        use_attention_dropout = train and self.attention_dropout_rate > 0.0
        projection = None
        if implementation == "performer":
            projection = self._performer_projection(train)
        y = dot_product_attention(
            q,
            k,
            v,
            causal=causal,
            mask=mask,
            bias=bias,
            scale=self.scale,
            dropout_rate=self.attention_dropout_rate,
            dropout_rng=self.make_rng("dropout") if use_attention_dropout else None,
            implementation=implementation,
            window=self.window if implementation == "local" else None,
            projection=projection,
        )
        y = nn.with_logical_constraint(y, qkv_axes)
        out = EinsumDense(
            "BTNH,NHD->BTD",
            kernel_shape=(self.num_heads, self.head_dim, features),
            kernel_axes=("heads", "kv", "embed"),
            bias_axes=("embed",) if self.use_bias else None,
            kernel_init=self.out_kernel_init,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="out",
        )(y)  # [B,T,D]
        out = nn.Dropout(self.dropout_rate, deterministic=not train)(out)
        out = nn.with_logical_constraint(out, ("batch", "length", "embed"))
        return out if cache is None else (out, cache)
