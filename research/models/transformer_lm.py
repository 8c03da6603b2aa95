"""A GPT-2 style decoder-only transformer language model (Radford et al., 2019; nanoGPT's model.py).

Token embedding + learned position embedding -> dropout -> `num_layers` pre-LayerNorm blocks
(x + attn(ln1(x)); x + mlp(ln2(x))) -> final LayerNorm `ln_f` -> tied output layer
(`embed.attend`), logits in float32. With `position_embedding='rope'` there is no position table:
every block rotates its queries and keys by their positions instead (RoPE, Su et al. 2021).

Parameter tree (names are API, converters and LoRA select them by path):
  embed/embedding [V,D]; pos_embed/embedding [max_len,D];
  block_{i}/{ln1,ln2}/{scale,bias} [D]; block_{i}/attn/{query,key,value}/kernel [D,N,H], bias [N,H];
  block_{i}/attn/out/kernel [N,H,D], bias [D]; block_{i}/mlp/wi/kernel [D,F], bias [F];
  block_{i}/mlp/wo/kernel [F,D], bias [D]; ln_f/{scale,bias} [D].

The Hugging Face GPT-2 converter is `research/models/convert/hf_gpt2.py` (beside the model, not in
it, so a fork of this file does not carry it).
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.models import contract
from research.nn.embedding import Embed, check_token_ids, nan_where_invalid
from research.nn.kv_cache import KVCache
from research.nn.norm import LayerNorm
from research.nn.paged_kv_cache import PagedKVCache
from research.nn.transformer_block import TransformerBlock
from research.nn.vocab_padding import padded_vocab_size

POSITION_EMBEDDINGS = ("learned", "rope")
ROPE_BASE = 10_000.0


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
    # On the attention probabilities (GPT-2's attn_pdrop); the einsum attention path only.
    attention_dropout_rate: float = 0.0
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'
    param_dtype: str = "float32"
    attention_impl: str | None = None  # None: einsum reference; 'xla'/'cudnn': jax.nn path
    remat: bool = False  # recompute each block in the backward pass (nn.remat)
    norm_epsilon: float = 1e-5
    # None: 1/sqrt(head_dim) (Vaswani et al.); 1.0 turns the scale off (the attention experiments).
    attention_scale: float | None = None
    # 'pre' is GPT-2's block; 'post' normalizes after each residual addition (the original
    # transformer, BERT), for the depth experiments. ln_f is kept either way.
    norm_placement: str = "pre"
    # attention_impl='local': the sliding window (keys on each side; 0 = none). 'performer': the
    # number of random features m (0 = none) and the redraw period in training steps (0 = one
    # fixed draw; > 0 keeps a step counter in the model-state collection 'performer').
    attention_window: int = 0
    performer_features: int = 0
    performer_redraw_every: int = 0
    # 'learned': GPT-2's table pos_embed [max_len,D] added to the token embeddings; 'rope': no
    # table, queries and keys rotated by their positions in every block (base 10000, RoFormer).
    position_embedding: str = "learned"

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}; "
                "choose num_heads that divides embed_dim."
            )
        if self.position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(
                f"Unknown position_embedding {self.position_embedding!r}; choose one of "
                f"{POSITION_EMBEDDINGS}."
            )
        if self.norm_placement not in ("pre", "post"):
            raise ValueError(
                f"Unknown norm_placement {self.norm_placement!r}; choose 'pre' or 'post'."
            )
        padded_vocab_size(self.vocab_size, self.vocab_pad_multiple)  # refuses sizes below 1
        contract.check_dtypes(self)

    @property
    def padded_vocab_size(self) -> int:
        return padded_vocab_size(self.vocab_size, self.vocab_pad_multiple)

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


def block(cfg: Config, name: str, *, remat: bool = False, causal: bool = True) -> TransformerBlock:
    """One pre-LayerNorm decoder block (`research.nn.transformer_block`): x + attn(ln1(x)), then
    x + mlp(ln2(x)), GELU (tanh form), biases everywhere: GPT-2's block (`norm_placement='post'`
    normalizes after each residual sum instead, for the depth experiments).

    Called as `block(x, None, train, cache=cache)`: `train` positional so that remat keeps it static.
    `causal=False` drops the causal mask (see `Model.causal`).
    """
    dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
    block_cls = nn.remat(TransformerBlock, static_argnums=(3,)) if remat else TransformerBlock
    return block_cls(
        num_heads=cfg.num_heads,
        head_dim=cfg.head_dim,
        mlp_dim=cfg.mlp_dim,
        activation="gelu_tanh",
        norm="layer",
        norm_epsilon=cfg.norm_epsilon,
        norm_placement=cfg.norm_placement,
        attention_scale=cfg.attention_scale,
        causal=causal,
        dropout_rate=cfg.dropout_rate,
        attention_dropout_rate=cfg.attention_dropout_rate,
        dtype=dtype,
        param_dtype=param_dtype,
        implementation=cfg.attention_impl,
        attention_window=cfg.attention_window or None,
        performer_features=cfg.performer_features or None,
        performer_redraw_every=cfg.performer_redraw_every,
        rotary_base=ROPE_BASE if cfg.position_embedding == "rope" else None,
        # GPT-2: residual projections start smaller so the residual stream's variance does not
        # grow with depth (2 residual additions per block).
        residual_init=nn.initializers.normal(0.02 / math.sqrt(2 * cfg.num_layers)),
        name=name,
    )


class Model(nn.Module):
    """The language model. Shapes: tokens int32[B,T] -> float32 logits [B,T,V].

    Logits at position t depend only on tokens[:, :t+1]. Requires T <= max_len (a ValueError at
    trace time otherwise) and token ids in [0, vocab_size): concrete ids are checked (ValueError);
    under jit they cannot be, and an out-of-range id (padding rows included) makes the logits of
    its whole sequence NaN, which the training loop reports as a non-finite loss.

    Incremental decoding (the `research.generate` protocol): `cache = model.init_cache(B, L)`,
    then `logits, cache = model.apply({'params': p}, tokens, cache=cache)` for the prompt and
    again for each new token; the tokens continue the sequence the cache holds.

    Serving (`research.serve`) passes {'block_{i}': PagedKVCache} instead: every row continues
    at its own length, read from the cache (`research.nn.paged_kv_cache`).

    Padding: `mask` bool[B,T] (True = real token), with or without the cache. A padding token
    takes no position (the real tokens of a row are numbered 0, 1, ... wherever the padding
    sits) and no query attends to it, so a left-padded row gives the logits it gives alone at its
    real positions (Hugging Face's `attention_mask` with `position_ids = cumsum(mask) - 1`).
    Logits at padding positions are meaningless. The cache remembers which of its slots are
    padding and the next position of each row, so a left-padded prompt batch decodes row by row
    as each prompt would alone.

    `causal=False` (for the masking lesson in `experiments/attention_masks.py`, not a model to
    train for generation) removes the causal mask: every position attends to every real position,
    the future included. Same parameters; no cache (there is nothing to decode incrementally).
    """

    config: Config
    causal: bool = True

    def init_cache(self, batch_size: int, length: int) -> dict:
        """An empty cache for sequences of up to `length` tokens (at most max_len).

        {'block_{i}': KVCache [B,L,N,H] per block, 'key_valid': bool [B,L] (slots holding real
        tokens, not padding), 'position': int32 [B] (each row's next position)}. Laid out by
        logical axes, ('batch', 'length', 'heads', 'kv') as the attention activations, so under
        a mesh it shards like them (a no-op without axis rules).
        """
        cfg = self.config
        if length > cfg.max_len:
            raise ValueError(
                f"transformer_lm cannot decode {length} positions: its position table has "
                f"max_len={cfg.max_len}; generate fewer tokens or use a model with a larger max_len."
            )
        kv_axes = ("batch", "length", "heads", "kv")
        cache = {}
        for i in range(cfg.num_layers):
            kv = KVCache.zeros(
                batch_size, length, cfg.num_heads, cfg.head_dim, jnp.dtype(cfg.dtype)
            )
            cache[f"block_{i}"] = kv.replace(
                key=nn.with_logical_constraint(kv.key, kv_axes),
                value=nn.with_logical_constraint(kv.value, kv_axes),
            )
        valid = jnp.zeros((batch_size, length), bool)
        cache["key_valid"] = nn.with_logical_constraint(valid, ("batch", "length"))
        cache["position"] = nn.with_logical_constraint(
            jnp.zeros((batch_size,), jnp.int32), ("batch",)
        )
        return cache

    @nn.compact
    def __call__(self, tokens, *, cache: dict | None = None, train: bool = False, mask=None):
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
        check_token_ids(tokens, cfg.vocab_size)
        if cache is not None and not self.causal:
            raise ValueError(
                "a non-causal transformer_lm.Model cannot decode with a cache (each position sees "
                "the whole window); call it without cache=, or build it with causal=True."
            )

        embed = Embed(
            cfg.padded_vocab_size, cfg.embed_dim, dtype=dtype, param_dtype=param_dtype, name="embed"
        )
        positions, attention_mask, new_cache = self._positions_and_mask(tokens, mask, cache)
        x = embed(tokens)  # [B,T,D]
        rotary = {}
        if cfg.position_embedding == "rope":
            rotary = {"positions": positions}  # every block rotates q and k by them
        else:
            pos_embed = Embed(
                cfg.max_len,
                cfg.embed_dim,
                axes=(None, "embed"),
                dtype=dtype,
                param_dtype=param_dtype,
                name="pos_embed",
            )
            x = x + pos_embed(positions)
        x = nan_where_invalid(x, tokens, cfg.vocab_size)
        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        x = nn.with_logical_constraint(x, ("batch", "length", "embed"))

        for i in range(cfg.num_layers):
            name = f"block_{i}"
            layer = block(cfg, name, remat=cfg.remat, causal=self.causal)
            if cache is None:
                x = layer(x, None, train, mask=attention_mask, **rotary)
            else:
                x, new_cache[name] = layer(
                    x, None, train, mask=attention_mask, cache=cache[name], **rotary
                )

        ln_f = LayerNorm(
            epsilon=cfg.norm_epsilon, dtype=dtype, param_dtype=param_dtype, name="ln_f"
        )
        x = ln_f(x)
        logits = embed.attend(x)[..., : cfg.vocab_size]  # [B,T,V] float32, padding dropped
        logits = nn.with_logical_constraint(logits, ("batch", "length", "vocab"))
        return logits if cache is None else (logits, new_cache)

    def _positions_and_mask(self, tokens, mask, cache):
        """Positions int32 [B,T] or [1,T], the self-attention mask (None, or bool [B,1,1,S]) and
        the non-KV part of the updated cache (empty without a cache)."""
        batch, length = tokens.shape
        if mask is not None and jnp.shape(mask) != tokens.shape:
            raise ValueError(
                f"mask must have the tokens' shape {tokens.shape} (True = real token), got "
                f"{jnp.shape(mask)}."
            )
        if cache is None:
            if mask is None:
                return jnp.arange(length)[None], None, {}
            mask = jnp.asarray(mask, bool)
            positions = jnp.maximum(jnp.cumsum(mask, axis=1) - 1, 0)
            return positions, mask[:, None, None, :], {}
        if isinstance(cache["block_0"], PagedKVCache):
            # The serving engine's cache (`research.serve`): {'block_{i}': PagedKVCache}. Each
            # row continues at its own length; the cache's own mask hides every slot past it.
            if mask is not None:
                raise ValueError(
                    "A paged cache takes no mask=: each row's length lives in the cache (its "
                    "index); pad rows with tokens past their length instead."
                )
            # The padding after a short prefill chunk may sit past max_len: give it the last
            # position, so its keys and values stay finite (masked, but 0 * NaN is NaN).
            positions = jnp.minimum(cache["block_0"].positions(length), self.config.max_len - 1)
            return positions, None, {}
        valid = jnp.ones((batch, length), bool) if mask is None else jnp.asarray(mask, bool)
        # A padding token before the row's first real token would get position -1: it is never
        # attended to, so any in-range position does.
        positions = cache["position"][:, None] + jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
        start = cache["block_0"].index  # the slot the first of these tokens is written at
        key_valid = jax.lax.dynamic_update_slice(cache["key_valid"], valid, (0, start))
        new_cache = {
            "key_valid": nn.with_logical_constraint(key_valid, ("batch", "length")),
            "position": cache["position"] + jnp.sum(valid, axis=1, dtype=jnp.int32),
        }
        return positions, key_valid[:, None, None, :], new_cache


make = contract.maker("transformer_lm", Config, VARIANTS, Model)


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
    if include_position_embedding and config.position_embedding == "learned":
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
