"""The transformer block every model of the family is built from (GPT-2, BERT, T5).

One block, its variants as data:

  pre-LN  (GPT-2, T5):  x = x + attn(ln1(x)); [x = x + cross(ln_cross(x), encoded)]; x = x + mlp(ln2(x))
  post-LN (BERT, the original transformer):
                        x = ln1(x + attn(x));  [x = ln_cross(x + cross(x, encoded))]; x = ln2(x + mlp(x))

Pre-LN keeps an identity path from the input to the output of the whole stack, so deep stacks train
without learning-rate warmup tricks; post-LN normalizes after each residual addition (Xiong et al.
2020, "On Layer Normalization in the Transformer Architecture"). The norm is LayerNorm (GPT-2, BERT)
or RMSNorm (T5: no mean subtraction, no bias); the feed-forward block is dense (`MlpBlock`, with an
activation) or gated (`GatedMlpBlock`: GEGLU, SwiGLU).

Parameter names (API: converters and LoRA select them by path): `ln1`, `attn`, and with
`cross_attention` `ln_cross`, `cross_attn`; then `ln2`, `mlp`. They are GPT-2's names in this
project (`research/models/transformer_lm.py`), so its parameter tree is unchanged.

Shapes: x [B,T,D], encoded [B,S,D] -> [B,T,D] (and the updated self-attention KVCache when `cache`
is given).
"""

import flax.linen as nn
import jax.numpy as jnp

from research.nn.attention import MultiHeadAttention
from research.nn.kv_cache import KVCache
from research.nn.mlp import GatedMlpBlock, MlpBlock
from research.nn.norm import LayerNorm, RMSNorm

NORMS = ("layer", "rms")
NORM_PLACEMENTS = ("pre", "post")
MLPS = ("dense", "gated")


def check_choice(name: str, value, choices) -> None:
    """ValueError naming the field when `value` is not one of `choices`."""
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {choices}.")


class TransformerBlock(nn.Module):
    """Self-attention, optional cross-attention, feed-forward; each a residual branch with a norm.

    Args (fields):
      num_heads, head_dim, num_kv_heads: attention heads (see `MultiHeadAttention`).
      mlp_dim, mlp ('dense' | 'gated'), activation: the feed-forward block.
      norm ('layer' | 'rms'), norm_epsilon, norm_placement ('pre' | 'post').
      use_bias: biases in the attention and MLP projections (False in T5).
      attention_scale: None = 1/sqrt(head_dim); T5 uses 1.0.
      causal: self-attention sees positions <= t only (decoders).
      cross_attention: adds an attention over `encoded` (the decoder of an encoder-decoder).
      dropout_rate: on each branch's output (and inside the MLP); attention_dropout_rate: on the
        attention probabilities.
      implementation: the attention implementation (`research.nn.attention.IMPLEMENTATIONS`);
        attention_window: its window when 'local'; performer_features, performer_redraw_every:
        its random features when 'performer' (see `MultiHeadAttention`).
      kernel_init, residual_init: initializers of the input projections and of the projections
        that write into the residual stream (GPT-2 scales the latter by 1/sqrt(2 * layers)).
    """

    num_heads: int
    head_dim: int
    mlp_dim: int
    num_kv_heads: int | None = None
    mlp: str = "dense"
    activation: str = "gelu_tanh"
    norm: str = "layer"
    norm_epsilon: float = 1e-5
    norm_placement: str = "pre"
    use_bias: bool = True
    attention_scale: float | None = None
    causal: bool = False
    cross_attention: bool = False
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    implementation: str | None = None
    attention_window: int | None = None
    performer_features: int | None = None
    performer_redraw_every: int = 0
    rotary_base: float | None = None  # RoPE in the self-attention (None: none); needs positions
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    residual_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

    def _norm(self, name: str):
        if self.norm == "rms":
            return RMSNorm(
                epsilon=self.norm_epsilon, dtype=self.dtype, param_dtype=self.param_dtype, name=name
            )
        return LayerNorm(
            epsilon=self.norm_epsilon, dtype=self.dtype, param_dtype=self.param_dtype, name=name
        )

    def _attention(self, name: str):
        return MultiHeadAttention(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            num_kv_heads=self.num_kv_heads,
            dropout_rate=self.dropout_rate,
            attention_dropout_rate=self.attention_dropout_rate,
            scale=self.attention_scale,
            use_bias=self.use_bias,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            implementation=self.implementation,
            window=self.attention_window,
            performer_features=self.performer_features,
            performer_redraw_every=self.performer_redraw_every,
            rotary_base=self.rotary_base if name == "attn" else None,
            kernel_init=self.kernel_init,
            out_kernel_init=self.residual_init,
            name=name,
        )

    def _mlp(self):
        common = dict(
            mlp_dim=self.mlp_dim,
            activation=self.activation,
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=self.kernel_init,
            out_kernel_init=self.residual_init,
            name="mlp",
        )
        if self.mlp == "gated":
            return GatedMlpBlock(**common)
        return MlpBlock(use_bias=self.use_bias, **common)

    def _residual(self, name: str, x, branch):
        """x + branch(...) with the norm before the branch (pre) or after the sum (post)."""
        if self.norm_placement == "pre":
            out = branch(self._norm(name)(x))
            extra = None
            if isinstance(out, tuple):
                out, extra = out
            return x + out, extra
        out = branch(x)
        extra = None
        if isinstance(out, tuple):
            out, extra = out
        return self._norm(name)(x + out), extra

    @nn.compact
    def __call__(
        self,
        x,
        encoded=None,
        train: bool = False,
        *,
        mask=None,
        bias=None,
        encoded_mask=None,
        cache: KVCache | None = None,
        positions=None,
    ):
        """Args:
        x: [B,T,D].
        encoded: [B,S,D] the encoder's output (needed exactly when `cross_attention`).
        train: enables dropout (rng 'dropout'). Positional, so that `nn.remat(TransformerBlock,
          static_argnums=(3,))` can keep it a Python bool (argument 0 is the module).
        mask, bias: self-attention mask (True = may attend) and additive score bias, broadcastable
          to [B,N,T,T] (or [B,N,T,L] against a cache of capacity L).
        encoded_mask: cross-attention mask broadcastable to [B,N,T,S] (padding of the encoder
          input).
        cache: the self-attention KVCache; returned updated with the output.
        positions: int [B,T] or [T], the tokens' positions for rotary self-attention (exactly
          when `rotary_base` is set).
        """
        check_choice("norm", self.norm, NORMS)
        check_choice("norm_placement", self.norm_placement, NORM_PLACEMENTS)
        check_choice("mlp", self.mlp, MLPS)
        if self.cross_attention != (encoded is not None):
            raise ValueError(
                "A block with cross_attention needs the encoder output `encoded`, and a block "
                f"without it takes none (cross_attention={self.cross_attention}, encoded "
                f"{'given' if encoded is not None else 'missing'})."
            )

        def self_attention(h):
            return self._attention("attn")(
                h, mask=mask, bias=bias, causal=self.causal, cache=cache, train=train,
                positions=positions,
            )  # fmt: skip

        x, new_cache = self._residual("ln1", x, self_attention)
        if self.cross_attention:

            def cross(h):
                return self._attention("cross_attn")(h, encoded, mask=encoded_mask, train=train)

            x, _ = self._residual("ln_cross", x, cross)
        x, _ = self._residual("ln2", x, lambda h: self._mlp()(h, train=train))
        x = nn.with_logical_constraint(x, ("batch", "length", "embed"))
        return x if cache is None else (x, new_cache)
