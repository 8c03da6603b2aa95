"""A GPT-2 style decoder-only transformer language model (Radford et al., 2019; nanoGPT's model.py).

Token embedding + learned position embedding -> dropout -> `num_layers` pre-LayerNorm blocks
(x + attn(ln1(x)); x + mlp(ln2(x))) -> final LayerNorm `ln_f` -> tied output layer
(`embed.attend`), logits in float32.

Parameter tree (names are API, converters and LoRA select them by path):
  embed/embedding [V,D]; pos_embed/embedding [max_len,D];
  block_{i}/{ln1,ln2}/{scale,bias} [D]; block_{i}/attn/{query,key,value}/kernel [D,N,H], bias [N,H];
  block_{i}/attn/out/kernel [N,H,D], bias [D]; block_{i}/mlp/wi/kernel [D,F], bias [F];
  block_{i}/mlp/wo/kernel [F,D], bias [D]; ln_f/{scale,bias} [D].
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research.nn.attention import MultiHeadAttention
from research.nn.embedding import Embed
from research.nn.mlp import MlpBlock


@dataclasses.dataclass(frozen=True)
class Config:
    """Model hyperparameters. Defaults are the 'tiny' variant (3,307,008 parameters,
    of which 16,128 are vocabulary padding)."""

    vocab_size: int = 257  # 256 bytes + one end-of-text token
    # The embedding table has vocab_size rounded up to this multiple: shardable over `tensor` and
    # friendlier to matrix units. Logits of the padding rows are sliced off, so the model is
    # exactly a vocab_size-way classifier; those rows only ever receive weight decay.
    vocab_pad_multiple: int = 64
    max_len: int = 256
    num_layers: int = 4
    embed_dim: int = 256
    num_heads: int = 4
    mlp_dim: int = 1024
    dropout_rate: float = 0.0
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'
    param_dtype: str = "float32"
    attention_impl: str | None = None  # None: einsum reference; 'xla'/'cudnn': jax.nn path
    remat: bool = False  # recompute each block in the backward pass (nn.remat)
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}; "
                "choose num_heads that divides embed_dim."
            )

    @property
    def padded_vocab_size(self) -> int:
        return -(-self.vocab_size // self.vocab_pad_multiple) * self.vocab_pad_multiple

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


VARIANTS = {
    "tiny": dict(
        vocab_size=257, max_len=256, num_layers=4, embed_dim=256, num_heads=4, mlp_dim=1024
    ),
    # GPT-2 small (124M with its 50257-token vocabulary); pass vocab_size=... to change it.
    "gpt2_small": dict(
        vocab_size=50257, max_len=1024, num_layers=12, embed_dim=768, num_heads=12, mlp_dim=3072
    ),
}


class Block(nn.Module):
    """One pre-LayerNorm transformer block. Shapes: x [B,T,D] -> [B,T,D]."""

    config: Config

    @nn.compact
    def __call__(self, x, train: bool = False):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        # GPT-2: residual projections start smaller so the residual stream's variance does not
        # grow with depth (2 residual additions per block).
        residual_init = nn.initializers.normal(0.02 / math.sqrt(2 * cfg.num_layers))

        def layer_norm(name):
            return nn.LayerNorm(
                epsilon=cfg.layer_norm_epsilon,
                dtype=dtype,
                param_dtype=param_dtype,
                scale_init=nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("embed",)),
                name=name,
            )

        attn = MultiHeadAttention(
            num_heads=cfg.num_heads,
            head_dim=cfg.head_dim,
            dropout_rate=cfg.dropout_rate,
            dtype=dtype,
            param_dtype=param_dtype,
            implementation=cfg.attention_impl,
            out_kernel_init=residual_init,
            name="attn",
        )
        mlp = MlpBlock(
            mlp_dim=cfg.mlp_dim,
            dropout_rate=cfg.dropout_rate,
            dtype=dtype,
            param_dtype=param_dtype,
            out_kernel_init=residual_init,
            name="mlp",
        )
        x = x + attn(layer_norm("ln1")(x), causal=True, train=train)
        x = x + mlp(layer_norm("ln2")(x), train=train)
        return nn.with_logical_constraint(x, ("batch", "length", "embed"))


class Model(nn.Module):
    """The language model. Shapes: tokens int32[B,T] -> float32 logits [B,T,V].

    Logits at position t depend only on tokens[:, :t+1]. Requires T <= max_len and token ids in
    [0, vocab_size): both are checked eagerly; under jit the ids cannot be checked and an
    out-of-range id gives NaN logits.
    """

    config: Config

    @nn.compact
    def __call__(self, tokens, *, train: bool = False):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        assert tokens.ndim == 2, f"tokens must be int32[B,T], got shape {tokens.shape}"
        length = tokens.shape[1]
        assert length <= cfg.max_len, (
            f"sequence length {length} exceeds max_len={cfg.max_len}; crop the input or build the "
            "model with a larger max_len."
        )
        try:  # np, not jnp: under a trace even a concrete array's jnp.min is a tracer
            host = np.asarray(tokens)
        except jax.errors.TracerArrayConversionError:
            host = None  # traced ids (inside jit) cannot be checked here
        if host is not None and host.size:
            low, high = int(host.min()), int(host.max())
            assert low >= 0 and high < cfg.vocab_size, (
                f"token ids must lie in [0, {cfg.vocab_size}), got ids in [{low}, {high}]; "
                "check the tokenizer against the model's vocab_size."
            )

        embed = Embed(
            cfg.padded_vocab_size, cfg.embed_dim, dtype=dtype, param_dtype=param_dtype, name="embed"
        )
        pos_embed = Embed(
            cfg.max_len,
            cfg.embed_dim,
            axes=(None, "embed"),
            dtype=dtype,
            param_dtype=param_dtype,
            name="pos_embed",
        )
        x = embed(tokens) + pos_embed(jnp.arange(length))[None]  # [B,T,D]
        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        x = nn.with_logical_constraint(x, ("batch", "length", "embed"))

        # `train` is a Python bool that selects dropout: static for remat (self is argument 0).
        block_cls = nn.remat(Block, static_argnums=(2,)) if cfg.remat else Block
        for i in range(cfg.num_layers):
            x = block_cls(cfg, name=f"block_{i}")(x, train)

        x = nn.LayerNorm(
            epsilon=cfg.layer_norm_epsilon,
            dtype=dtype,
            param_dtype=param_dtype,
            scale_init=nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("embed",)),
            name="ln_f",
        )(x)
        logits = embed.attend(x)[..., : cfg.vocab_size]  # [B,T,V] float32, padding dropped
        return nn.with_logical_constraint(logits, ("batch", "length", "vocab"))


def make(variant: str | None = None, **overrides) -> Model:
    """A `Model` from a preset in `VARIANTS` (None: the `Config` defaults) plus field overrides."""
    if variant is not None and variant not in VARIANTS:
        raise ValueError(
            f"Unknown transformer_lm variant {variant!r}; choose one of {sorted(VARIANTS)} or None."
        )
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"Unknown transformer_lm Config field(s) {unknown}; valid fields are {sorted(fields)}."
        )
    values = {**(VARIANTS[variant] if variant else {}), **overrides}
    return Model(Config(**values))


def num_params(config: Config, *, include_position_embedding: bool = True) -> int:
    """Exact parameter count, computed from the config without initializing."""
    d, f, n_layers = config.embed_dim, config.mlp_dim, config.num_layers
    per_block = (
        2 * 2 * d  # ln1, ln2
        + 4 * (d * d + d)  # query, key, value, out kernels and biases
        + (d * f + f)
        + (f * d + d)  # wi, wo
    )
    total = config.padded_vocab_size * d + n_layers * per_block + 2 * d  # + ln_f
    if include_position_embedding:
        total += config.max_len * d
    return total


def flops_per_token(config: Config, seq_len: int) -> float:
    """Training FLOPs (forward + backward) per token: 6 N + 12 L D T (PaLM appendix B, nanoGPT).

    N counts every parameter except the position embedding: the token embedding stays in because
    it is also the output layer, whose [D,V] matmul is real compute. 6 N is 2 FLOPs per
    multiply-add times 3 (forward, and a backward twice as costly); 12 L D T is the attention
    score and value matmuls (2 * 2 * T * D per layer, times 3), counted over the full T x T
    matrix, causal masking notwithstanding, as is the convention for MFU.
    """
    n = num_params(config, include_position_embedding=False)
    return 6.0 * n + 12.0 * config.num_layers * config.embed_dim * seq_len


def _pad_rows(embedding: np.ndarray, config: Config) -> np.ndarray:
    """[V, D] -> [padded V, D] with zero rows (never read: their logits are sliced off)."""
    pad = config.padded_vocab_size - embedding.shape[0]
    return np.pad(embedding, ((0, pad), (0, 0)))


def from_hf_gpt2_state_dict(state_dict, config: Config) -> dict:
    """Converts a Hugging Face GPT-2 state dict (`GPT2LMHeadModel` or `GPT2Model`) to our params.

    Works offline on a checkpoint loaded from a local path, e.g.
    `from_hf_gpt2_state_dict(torch.load(path), make('gpt2_small').config)`. Values may be torch
    tensors or numpy arrays. HF's Conv1D weights are stored [in, out], so kernels are reshaped,
    not transposed. `lm_head.weight` is ignored (tied to the token embedding).

    Returns: a nested dict of numpy arrays in `config.param_dtype`, for
    `model.apply({'params': params}, tokens)`.
    """
    sd = {}
    for key, value in state_dict.items():
        key = key.removeprefix("transformer.")
        if hasattr(value, "detach"):  # torch.Tensor, without importing torch
            value = value.detach().cpu().float().numpy()
        sd[key] = np.asarray(value)

    d, n, h = config.embed_dim, config.num_heads, config.head_dim
    dtype = jnp.dtype(config.param_dtype)

    def get(key, shape):
        if key not in sd:
            raise ValueError(f"GPT-2 state dict has no {key!r}; is this a GPT-2 checkpoint?")
        if sd[key].shape != tuple(shape):
            raise ValueError(
                f"GPT-2 state dict entry {key!r} has shape {sd[key].shape}, the config expects "
                f"{tuple(shape)}; build the Config to match the checkpoint."
            )
        return sd[key].astype(dtype)

    def layer_norm(prefix):
        return {"scale": get(f"{prefix}.weight", (d,)), "bias": get(f"{prefix}.bias", (d,))}

    params = {
        "embed": {"embedding": _pad_rows(get("wte.weight", (config.vocab_size, d)), config)},
        "pos_embed": {"embedding": get("wpe.weight", (config.max_len, d))},
        "ln_f": layer_norm("ln_f"),
    }
    for i in range(config.num_layers):
        p = f"h.{i}"
        qkv_kernel = get(f"{p}.attn.c_attn.weight", (d, 3 * d))  # [D, 3 * N * H], q|k|v
        qkv_bias = get(f"{p}.attn.c_attn.bias", (3 * d,))
        attn = {
            name: {
                "kernel": qkv_kernel[:, j * d : (j + 1) * d].reshape(d, n, h),
                "bias": qkv_bias[j * d : (j + 1) * d].reshape(n, h),
            }
            for j, name in enumerate(("query", "key", "value"))
        }
        attn["out"] = {
            "kernel": get(f"{p}.attn.c_proj.weight", (d, d)).reshape(n, h, d),
            "bias": get(f"{p}.attn.c_proj.bias", (d,)),
        }
        params[f"block_{i}"] = {
            "ln1": layer_norm(f"{p}.ln_1"),
            "attn": attn,
            "ln2": layer_norm(f"{p}.ln_2"),
            "mlp": {
                "wi": {
                    "kernel": get(f"{p}.mlp.c_fc.weight", (d, config.mlp_dim)),
                    "bias": get(f"{p}.mlp.c_fc.bias", (config.mlp_dim,)),
                },
                "wo": {
                    "kernel": get(f"{p}.mlp.c_proj.weight", (config.mlp_dim, d)),
                    "bias": get(f"{p}.mlp.c_proj.bias", (d,)),
                },
            },
        }
    return params
