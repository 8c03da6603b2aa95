"""T5: the text-to-text encoder-decoder transformer (Raffel et al., 2020), v1.0 and v1.1.

  encoder: shared embedding -> dropout -> pre-RMSNorm blocks (bidirectional self-attention with a
           relative position bias) -> final RMSNorm -> dropout
  decoder: shared embedding -> dropout -> pre-RMSNorm blocks (causal self-attention with its own
           relative position bias, cross-attention over the encoder output) -> final RMSNorm ->
           dropout -> output layer

No biases anywhere, RMSNorm without a bias (epsilon 1e-6), attention scores unscaled (scale 1.0:
T5 folds 1/sqrt(H) into the initialization). Each stack computes its `RelativePositionBias` once and
adds it in every layer (T5 keeps it in the first layer and passes it on). The variants are data:
  v1.0 (`feed_forward='relu'`, `tie_embeddings=True`): ReLU MLP; the output layer is the shared
       embedding, applied to the decoder output rescaled by d_model**-0.5.
  v1.1 (`feed_forward='gated-gelu'`, `tie_embeddings=False`): GEGLU MLP with the tanh GELU
       (Hugging Face's gelu_new); an untied `lm_head`, no rescale.

Parameter tree (names are API; the converter is research/models/convert/hf_t5.py):
  embed/embedding [V,D]
  encoder/rel_bias/rel_embedding [buckets,N]; encoder/block_{i}/{ln1,ln2}/scale [D];
  encoder/block_{i}/attn/{query,key,value}/kernel [D,N,H], attn/out/kernel [N,H,D];
  encoder/block_{i}/mlp/{wi [D,F], wo [F,D]} (gated: wi_0, wi_1, wo); encoder/ln_f/scale [D]
  decoder/...: the same, plus decoder/block_{i}/ln_cross/scale and cross_attn/{query,key,value,out}
  lm_head/kernel [D,V] (v1.1 only)

Incremental decoding (the `research.generate.decoding` protocol, as an encoder-decoder: `is_encoder_decoder`): the cache
(`T5Cache`) carries the encoder output and its mask beside the decoder's self-attention KV caches,
because the protocol passes only tokens and the cache. `cache = model.init_cache(B, L)` is empty
(no encoder output) and holds L decoder positions (the start token included), whatever the
encoder input's length; the first call `model.apply(p, inputs, cache=cache, mask=mask)` encodes
`inputs` (`mask`: True on real tokens; None: every token is real), runs the decoder start token
and returns its logits [B,1,V] with the filled cache; every later call takes decoder tokens. So
`decoding.decode(model, params, inputs, prompt_mask=mask, ...)` generates the target of `inputs`.
Or call `encode` and put its output in the cache with `start_decoding`.

Padding of the encoder input is always given as a mask (True = real token), never derived from
the token ids: `pad_id` may be a real token of some vocabulary, and a silent `inputs != pad_id`
would hide it from the encoder. `mask=None` means every token is real (Hugging Face's default too).
"""

import dataclasses

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from research.models import contract
from research.nn.dense import EinsumDense
from research.nn.embedding import Embed, check_token_ids, nan_where_invalid
from research.nn.kv_cache import KVCache
from research.nn.masks import padding_mask
from research.nn.norm import RMSNorm
from research.nn.positional import RelativePositionBias
from research.nn.transformer_block import TransformerBlock

FEED_FORWARDS = {"relu": ("dense", "relu"), "gated-gelu": ("gated", "gelu_tanh")}


@dataclasses.dataclass(frozen=True)
class Config:
    """Model hyperparameters. Defaults are the 'tiny' variant (v1.0 layout)."""

    vocab_size: int = 320
    embed_dim: int = 128  # d_model
    num_heads: int = 4
    head_dim: int = 32  # d_kv; num_heads * head_dim need not equal embed_dim
    mlp_dim: int = 512  # d_ff
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    relative_buckets: int = 32
    relative_max_distance: int = 128
    feed_forward: str = "relu"  # 'relu' (v1.0) | 'gated-gelu' (v1.1)
    tie_embeddings: bool = True  # v1.0: shared output layer + d_model**-0.5 rescale
    dropout_rate: float = 0.0
    norm_epsilon: float = 1e-6
    pad_id: int = 0  # the decoder start token, as in T5 (encoder padding comes as a mask)
    dtype: str = "float32"
    param_dtype: str = "float32"
    attention_impl: str | None = None

    def __post_init__(self):
        if self.feed_forward not in FEED_FORWARDS:
            raise ValueError(
                f"Unknown T5 feed_forward {self.feed_forward!r}; choose one of "
                f"{sorted(FEED_FORWARDS)}."
            )
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(
                f"pad_id={self.pad_id} lies outside the vocabulary [0, {self.vocab_size}); "
                "choose a pad id inside it (T5 uses 0)."
            )
        contract.check_dtypes(self)


VARIANTS = {
    "tiny": dict(
        vocab_size=320,
        embed_dim=128,
        num_heads=4,
        head_dim=32,
        mlp_dim=512,
        num_encoder_layers=2,
        num_decoder_layers=2,
    ),
    # t5-small (v1.0): 60,506,624 parameters.
    "small": dict(
        vocab_size=32128,
        embed_dim=512,
        num_heads=8,
        head_dim=64,
        mlp_dim=2048,
        num_encoder_layers=6,
        num_decoder_layers=6,
        dropout_rate=0.1,
    ),
    # google/t5-v1_1-small: 76,961,152 parameters.
    "small_v1_1": dict(
        vocab_size=32128,
        embed_dim=512,
        num_heads=6,
        head_dim=64,
        mlp_dim=1024,
        num_encoder_layers=8,
        num_decoder_layers=8,
        feed_forward="gated-gelu",
        tie_embeddings=False,
        dropout_rate=0.1,
    ),
}


def _input_init(key, shape, dtype=jnp.float32):
    """T5-style init of the projections that read the residual stream ([D,N,H] or [D,F]).

    T5 draws the query with std (D*H)**-0.5 and keys, values, wi with D**-0.5, so q.k starts at
    unit variance. The shared block has one init for all of them, so queries, keys and values each
    take half of the 1/sqrt(H) (std (D*sqrt(H))**-0.5): q.k still starts at unit variance.
    """
    std = shape[0] ** -0.5 * (shape[-1] ** -0.25 if len(shape) == 3 else 1.0)
    return std * jax.random.normal(key, shape, dtype)


def _residual_init(key, shape, dtype=jnp.float32):
    """std fan_in**-0.5 for the projections writing into the residual stream ([N,H,D], [F,D])."""
    fan_in = 1
    for size in shape[:-1]:
        fan_in *= size
    return fan_in**-0.5 * jax.random.normal(key, shape, dtype)


def shift_right(targets, start_id: int):
    """Teacher-forcing decoder inputs: [start_id, targets[:, :-1]]. Shapes: int[B,T] -> int[B,T]."""
    start = jnp.full(targets.shape[:1] + (1,), start_id, targets.dtype)
    return jnp.concatenate([start, targets[:, :-1]], axis=1)


@flax.struct.dataclass
class T5Cache:
    """Decoding state: the encoder output and mask (None before the first call) and one
    self-attention KVCache per decoder layer (`block_{i}`)."""

    encoded: jax.Array | None  # [B,S,D]
    encoded_mask: jax.Array | None  # bool [B,S]
    layers: dict


class Stack(nn.Module):
    """One side of T5: the encoder (`decoder=False`) or the decoder. x [B,T,D] -> [B,T,D]."""

    config: Config
    decoder: bool

    @nn.compact
    def __call__(
        self, x, *, mask=None, encoded=None, encoded_mask=None, cache=None, train: bool = False
    ):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        num_layers = cfg.num_decoder_layers if self.decoder else cfg.num_encoder_layers
        rel_bias = RelativePositionBias(
            cfg.num_heads,
            bidirectional=not self.decoder,
            num_buckets=cfg.relative_buckets,
            max_distance=cfg.relative_max_distance,
            embedding_init=nn.initializers.normal(cfg.embed_dim**-0.5),
            name="rel_bias",
        )
        length = x.shape[1]
        if cache is None:
            bias = rel_bias(length, length)  # [1,N,T,T], shared by every layer
        else:
            offset = cache["block_0"].index
            bias = rel_bias(length, cache["block_0"].capacity, query_offset=offset)  # [1,N,T,L]
        self_mask = None if mask is None else padding_mask(mask)  # [B,1,1,T]
        cross_mask = None if encoded_mask is None else padding_mask(encoded_mask)  # [B,1,1,S]
        mlp, activation = FEED_FORWARDS[cfg.feed_forward]

        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        new_cache = {}
        for i in range(num_layers):
            name = f"block_{i}"
            layer = TransformerBlock(
                num_heads=cfg.num_heads,
                head_dim=cfg.head_dim,
                mlp_dim=cfg.mlp_dim,
                mlp=mlp,
                activation=activation,
                norm="rms",
                norm_epsilon=cfg.norm_epsilon,
                norm_placement="pre",
                use_bias=False,
                attention_scale=1.0,
                causal=self.decoder,
                cross_attention=self.decoder,
                dropout_rate=cfg.dropout_rate,
                attention_dropout_rate=cfg.dropout_rate,
                dtype=dtype,
                param_dtype=param_dtype,
                implementation=cfg.attention_impl,
                kernel_init=_input_init,
                residual_init=_residual_init,
                name=name,
            )
            kwargs = dict(mask=self_mask, bias=bias, encoded_mask=cross_mask)
            if cache is None:
                x = layer(x, encoded, train, **kwargs)
            else:
                x, new_cache[name] = layer(x, encoded, train, cache=cache[name], **kwargs)
        x = RMSNorm(epsilon=cfg.norm_epsilon, dtype=dtype, param_dtype=param_dtype, name="ln_f")(x)
        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        return x if cache is None else (x, new_cache)


class Model(nn.Module):
    """T5. Shapes: inputs int32[B,S], decoder_inputs int32[B,T] -> float32 logits [B,T,V].

    `__call__(inputs, decoder_inputs, *, mask=None, decoder_mask=None, train=False)` is teacher
    forcing: `decoder_inputs` are the targets shifted right (`shift_right(targets, pad_id)`).
    `mask` bool [B,S] marks real input tokens (None: all of them; the padding is never guessed
    from `pad_id`, see the module docstring); `decoder_mask` [B,T] marks real decoder positions
    (default: all). Logits at decoder position t depend on
    decoder_inputs[:, :t+1] and on the real input tokens only. Token ids must lie in
    [0, vocab_size): concrete ids are checked (ValueError), traced ones make their row NaN.

    With `cache=` (see the module docstring) the call decodes incrementally and returns
    (logits, cache).
    """

    config: Config
    is_encoder_decoder = True  # the decoding protocol: the prompt is the encoder input

    def setup(self):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        self.embed = Embed(
            cfg.vocab_size,
            cfg.embed_dim,
            dtype=dtype,
            param_dtype=param_dtype,
            embedding_init=nn.initializers.normal(1.0),
        )
        self.encoder = Stack(cfg, decoder=False)
        self.decoder = Stack(cfg, decoder=True)
        if not cfg.tie_embeddings:
            self.lm_head = EinsumDense(
                "BTD,DV->BTV",
                kernel_shape=(cfg.embed_dim, cfg.vocab_size),
                kernel_axes=("embed", "vocab"),
                kernel_init=nn.initializers.normal(cfg.embed_dim**-0.5),
                dtype=dtype,
                param_dtype=param_dtype,
            )

    def _embed(self, tokens, what: str):
        if tokens.ndim != 2:
            raise ValueError(f"T5 {what} must be int32[B,T], got shape {tokens.shape}.")
        check_token_ids(tokens, self.config.vocab_size)
        return nan_where_invalid(self.embed(tokens), tokens, self.config.vocab_size)

    def encode(self, inputs, mask=None, *, train: bool = False):
        """inputs int32[B,S], mask bool [B,S] (True = real token; None: all) -> encoded [B,S,D]."""
        mask = _input_mask(inputs, mask)
        x = self._embed(inputs, "inputs")
        x = self.encoder(x, mask=mask, train=train)
        return nn.with_logical_constraint(x, ("batch", "length", "embed"))

    def decode(
        self, decoder_inputs, encoded, encoded_mask, *, decoder_mask=None, cache=None, train=False
    ):
        """decoder_inputs int32[B,T], encoded [B,S,D], encoded_mask [B,S] -> logits [B,T,V]
        (and the decoder's KV caches {block_i: KVCache} when `cache` holds them)."""
        cfg = self.config
        if encoded.ndim != 3 or encoded.shape[0] != decoder_inputs.shape[0]:
            raise ValueError(
                f"encoded must be [B,S,D] with the batch of decoder_inputs "
                f"{decoder_inputs.shape}, got {encoded.shape}."
            )
        x = self._embed(decoder_inputs, "decoder_inputs")
        out = self.decoder(
            x,
            mask=decoder_mask,
            encoded=encoded,
            encoded_mask=encoded_mask,
            cache=cache,
            train=train,
        )
        x, new_cache = out if cache is not None else (out, None)
        if cfg.tie_embeddings:
            logits = self.embed.attend(x * cfg.embed_dim**-0.5)
        else:
            logits = self.lm_head(x).astype(jnp.float32)
        logits = nn.with_logical_constraint(logits, ("batch", "length", "vocab"))
        return logits if cache is None else (logits, new_cache)

    def __call__(
        self,
        inputs,
        decoder_inputs=None,
        *,
        mask=None,
        decoder_mask=None,
        cache: T5Cache | None = None,
        train: bool = False,
    ):
        if cache is None:
            if decoder_inputs is None:
                raise ValueError(
                    "T5 needs decoder_inputs for a full forward (the targets shifted right, see "
                    "shift_right), or a cache to decode incrementally."
                )
            mask = _input_mask(inputs, mask)
            encoded = self.encode(inputs, mask, train=train)
            return self.decode(
                decoder_inputs, encoded, mask, decoder_mask=decoder_mask, train=train
            )
        if decoder_inputs is not None or decoder_mask is not None:
            raise ValueError(
                "With a cache, T5 takes one token array: the encoder inputs on the first call "
                "(empty cache), the next decoder tokens afterwards."
            )
        if cache.encoded is None:  # first call: encode, then run the decoder start token
            encoded_mask = _input_mask(inputs, mask)
            encoded = self.encode(inputs, encoded_mask, train=train)
            cache = start_decoding(cache, encoded, encoded_mask)
            inputs = jnp.full((inputs.shape[0], 1), self.config.pad_id, jnp.int32)
        elif mask is not None:
            raise ValueError("mask is for the encoder inputs, given on the first call only.")
        logits, layers = self.decode(
            inputs, cache.encoded, cache.encoded_mask, cache=cache.layers, train=train
        )
        return logits, cache.replace(layers=layers)

    def init_cache(self, batch_size: int, length: int) -> T5Cache:
        """An empty cache for up to `length` decoder tokens (the start token included); the
        encoder input's length does not count (its output is stored beside, on the first call)."""
        cfg = self.config
        layers = {
            f"block_{i}": KVCache.zeros(
                batch_size, length, cfg.num_heads, cfg.head_dim, jnp.dtype(cfg.dtype)
            )
            for i in range(cfg.num_decoder_layers)
        }
        return T5Cache(encoded=None, encoded_mask=None, layers=layers)


def _input_mask(inputs, mask):
    """bool [B,S]: the given mask of real input tokens, or all True (no padding) when None."""
    if mask is None:
        return jnp.ones(inputs.shape, bool)
    if jnp.shape(mask) != inputs.shape:
        raise ValueError(
            f"mask must be bool [B,S] like the inputs {inputs.shape} (True = real token), got "
            f"{jnp.shape(mask)}."
        )
    return jnp.asarray(mask, bool)


def start_decoding(cache: T5Cache, encoded, encoded_mask) -> T5Cache:
    """`cache` holding the encoder output [B,S,D] and its mask [B,S] (True = real token)."""
    batch = cache.layers["block_0"].key.shape[0]
    if encoded.ndim != 3 or encoded.shape[0] != batch or encoded_mask.shape != encoded.shape[:2]:
        raise ValueError(
            f"encoded must be [B,S,D] and encoded_mask [B,S] with the cache's batch {batch}; "
            f"got {encoded.shape} and {encoded_mask.shape}."
        )
    return cache.replace(encoded=encoded, encoded_mask=encoded_mask.astype(bool))


make = contract.maker("t5", Config, VARIANTS, Model)


def num_params(config: Config) -> int:
    """Exact parameter count from the config (the shared embedding counted once)."""
    d, f, inner = config.embed_dim, config.mlp_dim, config.num_heads * config.head_dim
    attention = 4 * d * inner
    mlp = (3 if FEED_FORWARDS[config.feed_forward][0] == "gated" else 2) * d * f
    stack_extra = config.relative_buckets * config.num_heads + d  # rel_bias, ln_f
    encoder = config.num_encoder_layers * (attention + mlp + 2 * d) + stack_extra
    decoder = config.num_decoder_layers * (2 * attention + mlp + 3 * d) + stack_extra
    head = 0 if config.tie_embeddings else d * config.vocab_size
    return config.vocab_size * d + encoder + decoder + head
