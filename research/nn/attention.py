"""Scaled dot-product attention (Vaswani et al., 2017) and a multi-head attention layer.

`dot_product_attention` is the math: an explicit einsum reference path, or a delegation to
`jax.nn.dot_product_attention` (XLA or the cuDNN fused kernel). `MultiHeadAttention` is a thin
parameter holder around it: query/key/value/out projections named as the rest of the project
expects (`query`, `key`, `value`, `out`; LoRA, quantization and checkpoint converters select them
by path). It does self-attention, cross-attention over another sequence (`inputs_kv`, e.g. an
encoder's output), takes an additive score bias (T5's relative positions, ALiBi) and a boolean
mask, and decodes incrementally with a `KVCache` passed in and returned.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn.dense import EinsumDense
from research.nn.kv_cache import KVCache

IMPLEMENTATIONS = (None, "xla", "cudnn")


def _as_rank4(name: str, array, dtype):
    """`array` broadcastable to [B,N,T,S] with leading broadcast dims added (rank <= 4)."""
    if array is None:
        return None
    array = jnp.asarray(array, dtype=dtype)
    if array.ndim > 4:
        raise ValueError(f"{name} must broadcast to [B,N,T,S], got shape {array.shape}.")
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


def dot_product_attention(
    q, k, v, *, causal: bool, mask=None, bias=None, implementation: str | None = None
):
    """softmax(q k^T / sqrt(H) + bias, masked) v, per batch entry and head.

    Shapes: q [B,T,N,H], k [B,S,N,H], v [B,S,N,H] -> [B,T,N,H].

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
        Combined with the causal mask by logical and.
      bias: optional float array broadcastable to [B,N,T,S], added to the scaled scores before
        masking (relative position biases, ALiBi).
      implementation: None for the einsum reference path below (readable, any dtype, any device);
        'xla' or 'cudnn' to call `jax.nn.dot_product_attention`. 'cudnn' is the fast fused path on
        NVIDIA GPUs and needs bfloat16 or float16 inputs and lengths its flash kernel supports
        (T = 1023 is refused, T = 1024 works; feed training windows of 1025 tokens, not 1024).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"Unknown attention implementation {implementation!r}; expected one of "
            f"{IMPLEMENTATIONS} (None is the einsum reference path)."
        )
    if not q.ndim == k.ndim == v.ndim == 4 or k.shape != v.shape:
        raise ValueError(
            f"q, k, v must be [B,T,N,H], [B,S,N,H], [B,S,N,H]; got {q.shape}, {k.shape}, {v.shape}."
        )
    if q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        raise ValueError(
            f"q {q.shape} and k {k.shape} must agree on batch, heads and head width [B,_,N,H]."
        )
    mask = _as_rank4("mask", mask, bool)
    bias = _as_rank4("bias", bias, jnp.float32)
    if implementation is not None:
        return jax.nn.dot_product_attention(
            q,
            k,
            v,
            bias=None if bias is None else bias.astype(q.dtype),
            mask=mask,
            is_causal=causal,
            implementation=implementation,
        )

    head_dim = q.shape[-1]
    scores = jnp.einsum("BTNH,BSNH->BNTS", q, k, preferred_element_type=jnp.float32)
    scores = scores.astype(jnp.float32) / math.sqrt(head_dim)
    if bias is not None:
        scores = scores + bias
    if causal:
        t, s = q.shape[1], k.shape[1]
        causal_mask = jnp.tril(jnp.ones((t, s), dtype=bool))
        mask = causal_mask if mask is None else jnp.logical_and(mask, causal_mask)
    if mask is not None:
        # The most negative finite float rather than -inf: a fully masked row gives a uniform
        # distribution instead of NaNs, matching jax.nn.dot_product_attention.
        scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum("BNTS,BSNH->BTNH", probs, v)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project to N heads of width H, attend, project back to D.

    Shapes: x [B,T,D], inputs_kv [B,S,D] (None: x itself) -> [B,T,D]; with a cache,
    -> ([B,T,D], KVCache). Params: `query`/`key`/`value` kernel [D,N,H], bias [N,H];
    `out` kernel [N,H,D], bias [D].

    Dropout (when `train` and `dropout_rate > 0`, rng 'dropout') is applied to the output
    projection only: the fused kernels behind 'xla'/'cudnn' have no attention-probability dropout,
    and the reference path must compute the same function.
    """

    num_heads: int
    head_dim: int
    dropout_rate: float = 0.0
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    implementation: str | None = None
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    out_kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

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
        features = x.shape[-1]

        def project(name, inputs):
            return EinsumDense(
                "BTD,DNH->BTNH",
                kernel_shape=(inputs.shape[-1], self.num_heads, self.head_dim),
                kernel_axes=("embed", "heads", "kv"),
                bias_axes=("heads", "kv"),
                kernel_init=self.kernel_init,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=name,
            )(inputs)

        kv_inputs = x if inputs_kv is None else inputs_kv
        qkv_axes = ("batch", "length", "heads", "kv")
        q = nn.with_logical_constraint(project("query", x), qkv_axes)  # [B,T,N,H]
        k = nn.with_logical_constraint(project("key", kv_inputs), qkv_axes)  # [B,S,N,H]
        v = nn.with_logical_constraint(project("value", kv_inputs), qkv_axes)

        if cache is not None:
            cache = cache.append(k, v)
            k = nn.with_logical_constraint(cache.key, qkv_axes)  # [B,L,N,H]
            v = nn.with_logical_constraint(cache.value, qkv_axes)
            cache_mask = cache.attention_mask(x.shape[1], causal=causal)  # [T,L]
            mask = cache_mask if mask is None else jnp.logical_and(mask, cache_mask)
            causal = False  # the cache mask already holds it, at the right offset

        y = dot_product_attention(
            q, k, v, causal=causal, mask=mask, bias=bias, implementation=self.implementation
        )
        y = nn.with_logical_constraint(y, qkv_axes)
        out = EinsumDense(
            "BTNH,NHD->BTD",
            kernel_shape=(self.num_heads, self.head_dim, features),
            kernel_axes=("heads", "kv", "embed"),
            bias_axes=("embed",),
            kernel_init=self.out_kernel_init,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="out",
        )(y)  # [B,T,D]
        out = nn.Dropout(self.dropout_rate, deterministic=not train)(out)
        out = nn.with_logical_constraint(out, ("batch", "length", "embed"))
        return out if cache is None else (out, cache)
