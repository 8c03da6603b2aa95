"""BERT: a bidirectional post-LN transformer encoder with masked-LM and classification heads
(Devlin et al., 2019, "BERT: Pre-training of Deep Bidirectional Transformers").

  tokens [B,T], segments [B,T], attention_mask [B,T]
    -> word + segment (token type) + learned position embeddings -> LayerNorm -> dropout
    -> `num_layers` post-LN blocks: x = ln1(x + attn(x)); x = ln2(x + mlp(x))  (exact GELU)
    -> hidden [B,T,D]
    -> MLM head: dense D->D, GELU, LayerNorm, tied output (hidden @ embedding^T) + bias -> [B,T,V]
    -> pooler: dense D->D + tanh on position 0 ([CLS]) -> [B,D]
    -> classifier: dropout, dense D->C on the pooled vector -> [B,C]

Padding (attention_mask 0) is never attended to; the outputs at padded positions are computed but
meaningless. `Model.__call__` returns a dict with 'hidden', and 'mlm_logits', 'pooled',
'class_logits' for the heads the config turns on.

Parameter tree (names are API, converters and LoRA select them by path):
  embed/embedding [V,D]; pos_embed/embedding [max_len,D]; type_embed/embedding [types,D];
  embed_ln/{scale,bias} [D];
  block_{i}/attn/{query,key,value}/kernel [D,N,H], bias [N,H]; block_{i}/attn/out/kernel [N,H,D],
  bias [D]; block_{i}/ln1/{scale,bias}; block_{i}/mlp/wi/kernel [D,F], bias [F];
  block_{i}/mlp/wo/kernel [F,D], bias [D]; block_{i}/ln2/{scale,bias}       (TransformerBlock names)
  mlm/transform/{kernel [D,D], bias [D]}; mlm/ln/{scale,bias} [D]; mlm/bias [V]
  pooler/{kernel [D,D], bias [D]}; classifier/{kernel [D,C], bias [C]}

Parameter counts (`num_params`): 'base' encoder + pooler = 109,482,240 (Hugging Face `BertModel`);
the MLM head adds D*D + D + 2D + V = 622,650 (the output matrix is the word embedding), so encoder +
MLM head without pooler = 109,514,298 (`BertForMaskedLM`); the pooler is D*D + D = 590,592; a
classifier adds D*C + C. The Hugging Face converter is `research/models/convert/hf_bert.py`.
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from research.models import contract
from research.nn.dense import dense_2d
from research.nn.embedding import Embed, check_token_ids, nan_where_invalid
from research.nn.masks import padding_mask
from research.nn.norm import LayerNorm
from research.nn.transformer_block import TransformerBlock


@dataclasses.dataclass(frozen=True)
class Config:
    """Model hyperparameters. Defaults are the 'tiny' variant (used by experiments/train_mlm.py)."""

    vocab_size: int = 4096
    max_len: int = 128  # learned positions (HF max_position_embeddings)
    type_vocab_size: int = 2  # segments A / B
    num_layers: int = 4
    embed_dim: int = 128
    num_heads: int = 4
    mlp_dim: int = 512
    dropout_rate: float = 0.1  # embeddings, each residual branch, classifier input
    attention_dropout_rate: float = 0.1  # attention probabilities
    norm_epsilon: float = 1e-12
    mlm_head: bool = True
    pooler: bool = True
    num_classes: int = 0  # > 0: a sequence-classification head on the pooled vector
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'
    param_dtype: str = "float32"
    attention_impl: str | None = None  # None: einsum reference; 'xla'/'cudnn': no attn dropout

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}; "
                "choose num_heads that divides embed_dim."
            )
        if self.num_classes < 0:
            raise ValueError(
                f"num_classes={self.num_classes} is negative; pass 0 (no head) or more."
            )
        if self.num_classes and not self.pooler:
            raise ValueError(
                f"num_classes={self.num_classes} needs the pooler (the classifier reads the pooled "
                "[CLS] vector); set pooler=True."
            )
        contract.check_dtypes(self)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


VARIANTS = {
    "tiny": dict(
        vocab_size=4096, max_len=128, num_layers=4, embed_dim=128, num_heads=4, mlp_dim=512
    ),
    # BERT-base uncased (Devlin et al., 2019): 109,482,240 parameters with the pooler, no heads.
    "base": dict(
        vocab_size=30522, max_len=512, num_layers=12, embed_dim=768, num_heads=12, mlp_dim=3072
    ),
}


KERNEL_INIT = nn.initializers.normal(0.02)  # BERT's init of its dense heads (pooler, MLM transform)


class Model(nn.Module):
    """The encoder and its heads.

    Shapes: tokens int[B,T], segments int[B,T] (None: all 0), attention_mask [B,T] (1 = real
    token; None: all real) -> {'hidden': [B,T,D], 'mlm_logits': float32 [B,T,V], 'pooled': [B,D],
    'class_logits': float32 [B,C]} (the last three when `mlm_head`, `pooler`, `num_classes`).

    Requires T <= max_len, token ids in [0, vocab_size) and segment ids in [0, type_vocab_size)
    (ValueErrors for concrete arrays; under jit an out-of-range id makes its sequence NaN).
    """

    config: Config

    @nn.compact
    def __call__(self, tokens, *, segments=None, attention_mask=None, train: bool = False):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be int32[B,T], got shape {tokens.shape}.")
        length = tokens.shape[1]
        if length > cfg.max_len:
            raise ValueError(
                f"sequence length {length} exceeds max_len={cfg.max_len}; crop the input or "
                "build the model with a larger max_len."
            )
        for name, value in (("segments", segments), ("attention_mask", attention_mask)):
            if value is not None and value.shape != tokens.shape:
                raise ValueError(
                    f"{name} must have the shape of tokens {tokens.shape}, got {value.shape}."
                )
        check_token_ids(tokens, cfg.vocab_size)
        if segments is None:
            segments = jnp.zeros_like(tokens)
        else:
            check_token_ids(segments, cfg.type_vocab_size)

        def table(size, axes, name):
            return Embed(
                size, cfg.embed_dim, axes=axes, dtype=dtype, param_dtype=param_dtype, name=name
            )

        embed = table(cfg.vocab_size, ("vocab", "embed"), "embed")
        x = (
            embed(tokens)
            + table(cfg.max_len, (None, "embed"), "pos_embed")(jnp.arange(length))[None]
            + table(cfg.type_vocab_size, (None, "embed"), "type_embed")(segments)
        )  # [B,T,D]
        x = nan_where_invalid(x, tokens, cfg.vocab_size)
        x = nan_where_invalid(x, segments, cfg.type_vocab_size)
        x = self._layer_norm("embed_ln")(x)
        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        x = nn.with_logical_constraint(x, ("batch", "length", "embed"))

        mask = None if attention_mask is None else padding_mask(attention_mask)  # [B,1,1,T]
        for i in range(cfg.num_layers):
            x = TransformerBlock(
                num_heads=cfg.num_heads,
                head_dim=cfg.head_dim,
                mlp_dim=cfg.mlp_dim,
                activation="gelu",  # BERT's exact erf GELU
                norm="layer",
                norm_epsilon=cfg.norm_epsilon,
                norm_placement="post",
                dropout_rate=cfg.dropout_rate,
                attention_dropout_rate=cfg.attention_dropout_rate,
                dtype=dtype,
                param_dtype=param_dtype,
                implementation=cfg.attention_impl,
                name=f"block_{i}",
            )(x, None, train, mask=mask)
        out = {"hidden": x}

        if cfg.mlm_head:
            logits = MlmHead(cfg, name="mlm")(x, embed)
            out["mlm_logits"] = nn.with_logical_constraint(logits, ("batch", "length", "vocab"))
        if cfg.pooler:
            pooled = dense_2d(
                cfg.embed_dim, cfg.embed_dim, ("embed", "hidden"), "pooler",
                kernel_init=KERNEL_INIT, dtype=dtype, param_dtype=param_dtype,
            )(x[:, 0])  # fmt: skip
            out["pooled"] = pooled = jnp.tanh(pooled)  # [B,D]
            if cfg.num_classes:
                pooled = nn.Dropout(cfg.dropout_rate, deterministic=not train)(pooled)
                logits = dense_2d(
                    cfg.embed_dim, cfg.num_classes, ("hidden", "vocab"), "classifier",
                    kernel_init=KERNEL_INIT, dtype=dtype, param_dtype=param_dtype,
                )(pooled)  # fmt: skip
                out["class_logits"] = logits.astype(jnp.float32)
        return out

    def _layer_norm(self, name: str, axes=("embed",)) -> LayerNorm:
        cfg = self.config
        return LayerNorm(
            epsilon=cfg.norm_epsilon,
            axes=axes,
            dtype=jnp.dtype(cfg.dtype),
            param_dtype=jnp.dtype(cfg.param_dtype),
            name=name,
        )


class MlmHead(nn.Module):
    """Masked-LM head: dense D->D, GELU, LayerNorm, then the word embedding's transpose plus a
    per-token bias. Shapes: x [B,T,D] -> float32 logits [B,T,V]. Params: transform/{kernel, bias},
    ln/{scale, bias}, bias [V] (the output matrix is `embed`'s table, passed in)."""

    config: Config

    @nn.compact
    def __call__(self, x, embed: Embed):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        h = dense_2d(
            cfg.embed_dim, cfg.embed_dim, ("embed", "hidden"), "transform",
            kernel_init=KERNEL_INIT, dtype=dtype, param_dtype=param_dtype,
        )(x)  # fmt: skip
        h = nn.gelu(h, approximate=False)
        h = LayerNorm(
            epsilon=cfg.norm_epsilon, axes=("hidden",), dtype=dtype,
            param_dtype=param_dtype, name="ln",
        )(h)  # fmt: skip
        bias = self.param(
            "bias",
            nn.with_logical_partitioning(nn.initializers.zeros, ("vocab",)),
            (cfg.vocab_size,),
            param_dtype,
        )
        return embed.attend(h) + bias.astype(jnp.float32)  # [B,T,V] float32


make = contract.maker("bert", Config, VARIANTS, Model)


def num_params(config: Config) -> int:
    """Exact parameter count of `Model(config)` (its heads included), without initializing."""
    d, f, v = config.embed_dim, config.mlp_dim, config.vocab_size
    per_block = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d  # attn, mlp, ln1, ln2
    total = (v + config.max_len + config.type_vocab_size) * d + 2 * d  # embeddings + embed_ln
    total += config.num_layers * per_block
    if config.mlm_head:
        total += d * d + d + 2 * d + v  # transform, ln, output bias (output matrix is tied)
    if config.pooler:
        total += d * d + d
    total += config.num_classes * (d + 1)
    return total
