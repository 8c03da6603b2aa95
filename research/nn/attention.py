"""Scaled dot-product attention (Vaswani et al., 2017) and a multi-head attention layer.

`dot_product_attention` is the math: an explicit einsum reference path, or a delegation to
`jax.nn.dot_product_attention` (XLA or the cuDNN fused kernel). `MultiHeadAttention` is a thin
parameter holder around it: query/key/value/out projections named as the rest of the project
expects (`query`, `key`, `value`, `out`; LoRA, quantization and checkpoint converters select them
by path).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

IMPLEMENTATIONS = (None, "xla", "cudnn")


def dot_product_attention(q, k, v, *, causal: bool, mask=None, implementation: str | None = None):
    """softmax(q k^T / sqrt(H) + masks) v, per batch entry and head.

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
    assert q.ndim == k.ndim == v.ndim == 4, f"q/k/v must be [B,T,N,H]: {q.shape} {k.shape}"
    if mask is not None:
        mask = jnp.asarray(mask, dtype=bool)
        assert mask.ndim <= 4, f"mask must broadcast to [B,N,T,S], got shape {mask.shape}"
        # jax.nn.dot_product_attention wants a rank-4 mask; leading broadcast dims are free.
        mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    if implementation is not None:
        return jax.nn.dot_product_attention(
            q, k, v, mask=mask, is_causal=causal, implementation=implementation
        )

    head_dim = q.shape[-1]
    scores = jnp.einsum("BTNH,BSNH->BNTS", q, k, preferred_element_type=jnp.float32)
    scores = scores.astype(jnp.float32) / math.sqrt(head_dim)
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


class EinsumDense(nn.Module):
    """`einsum(equation, x, kernel) + bias` with `kernel` created at its true rank.

    Shapes: kernel `kernel_shape`, bias the trailing `len(bias_axes)` dims of it. flax's
    `DenseGeneral` initializes a flattened 2-D kernel, so a 3-name logical annotation on it fails
    as soon as a mesh is active; creating the kernel at full rank keeps the names honest.
    """

    equation: str
    kernel_shape: tuple[int, ...]
    kernel_axes: tuple[str, ...]
    bias_axes: tuple[str, ...]
    kernel_init: nn.initializers.Initializer
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel",
            nn.with_logical_partitioning(self.kernel_init, self.kernel_axes),
            self.kernel_shape,
            self.param_dtype,
        )
        bias_shape = self.kernel_shape[len(self.kernel_shape) - len(self.bias_axes) :]
        bias = self.param(
            "bias",
            nn.with_logical_partitioning(nn.initializers.zeros, self.bias_axes),
            bias_shape,
            self.param_dtype,
        )
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        return jnp.einsum(self.equation, x, kernel) + bias


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: project to N heads of width H, attend, project back to D.

    Shapes: x [B,T,D] -> [B,T,D]. Params: `query`/`key`/`value` kernel [D,N,H], bias [N,H];
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
    def __call__(self, x, *, causal: bool = True, mask=None, train: bool = False):
        assert x.ndim == 3, f"MultiHeadAttention expects [B,T,D], got shape {x.shape}"
        features = x.shape[-1]

        def project(name):
            return EinsumDense(
                "BTD,DNH->BTNH",
                kernel_shape=(features, self.num_heads, self.head_dim),
                kernel_axes=("embed", "heads", "kv"),
                bias_axes=("heads", "kv"),
                kernel_init=self.kernel_init,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=name,
            )(x)

        qkv_axes = ("batch", "length", "heads", "kv")
        q = nn.with_logical_constraint(project("query"), qkv_axes)  # [B,T,N,H]
        k = nn.with_logical_constraint(project("key"), qkv_axes)
        v = nn.with_logical_constraint(project("value"), qkv_axes)
        y = dot_product_attention(
            q, k, v, causal=causal, mask=mask, implementation=self.implementation
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
        return nn.with_logical_constraint(out, ("batch", "length", "embed"))
