"""An RNN encoder-decoder with attention (Bahdanau et al., 2015; Luong et al., 2015).

  source [B,S] -> source_embed -> encoder RNN (bidirectional: [fwd; bwd]) -> memory [B,S,K]
  decoder_inputs [B,T] (BOS + targets[:-1]: teacher forcing) -> target_embed -> decoder RNN
    (initial state: the encoder's last-layer final states, concatenated) -> h_t [B,T,K]
  context_t = attention(h_t, memory, source mask); a_t = tanh(W_c [context_t; h_t]);
  logits_t = W_out a_t [B,T,V]

This is Luong et al.'s "global attention" decoder (the state attends after its RNN step, without
input feeding), which makes the whole teacher-forced forward one scan plus vectorized attention.
The score is selectable: 'additive' (Bahdanau's v^T tanh(W_1 m + W_2 h), Luong's "concat"), 'dot'
or 'general' (see `research.rnn.attention`). The decoder width is K = hidden_dim x directions, so
the encoder's states initialize it and 'dot' can compare them directly.

Generation goes through the decoding protocol of `research.generate.decoding` as an
encoder-decoder (`is_encoder_decoder`): `cache = model.init_cache(B, L)` is empty; the first call
`model.apply(p, source, cache=cache, mask=mask)` encodes the source (`mask` bool [B,S]: its right
padding, True on the real tokens; None: no padding), runs BOS and returns logits [B,1,V]; later
calls take decoder tokens [B,T]. The cache is the encoder output and the decoder's RNN carry, so
L does not bound anything. Greedy decoding is `decoding.decode(model, params, source,
prompt_mask=mask, select=TokenChooser(0.0), eos_id=..., ...)`; `attention_weights` gives the
attention a teacher-forced decoder pays (of the generated tokens, say).

Parameter tree: source_embed/embedding [V,E], target_embed/embedding [V,E];
encoder/layer_{l}_{fwd,bwd}/{wi,wh,bi,bh} and decoder/layer_0_fwd/{wi,wh,bi,bh} (see
`research.rnn.layer`); attention/{w_key [K,A], w_query [K,A], v [A]} ('additive'),
attention/kernel [K,K] ('general'), none ('dot'); combine/kernel [2K,K]; out/{kernel [K,V], bias [V]}.
"""

import dataclasses

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from research.models import contract
from research.nn.dense import EinsumDense
from research.nn.embedding import Embed
from research.rnn.attention import KINDS, Attention
from research.rnn.cells import KINDS as CELLS
from research.rnn.layer import RNN


@dataclasses.dataclass(frozen=True)
class Config:
    """Model hyperparameters. Defaults are the 'digits' variant (reversal of digit strings)."""

    vocab_size: int = 13  # research.data.digit_strings: PAD 0, BOS 1, EOS 2, digits 3..12
    embed_dim: int = 32
    hidden_dim: int = 64  # per encoder direction; the decoder has hidden_dim x directions
    num_encoder_layers: int = 1
    bidirectional: bool = True
    cell: str = "gru"
    attention: str = "additive"  # 'additive' | 'dot' | 'general'
    attention_dim: int = 64  # 'additive' only
    bos_id: int = 1  # the decoder's first input
    eos_id: int = 2  # greedy decoding pads after it
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'; the logits are float32
    param_dtype: str = "float32"

    def __post_init__(self):
        if self.attention not in KINDS:
            raise ValueError(
                f"Unknown attention {self.attention!r}; choose one of {', '.join(KINDS)}."
            )
        if self.cell not in CELLS:
            raise ValueError(f"Unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}.")
        for name in ("bos_id", "eos_id"):
            if not 0 <= getattr(self, name) < self.vocab_size:
                raise ValueError(f"{name}={getattr(self, name)} is not a token id < vocab_size.")
        if self.num_encoder_layers < 1:
            raise ValueError(f"num_encoder_layers must be >= 1, got {self.num_encoder_layers}.")
        contract.check_dtypes(self)

    @property
    def decoder_size(self) -> int:
        return self.hidden_dim * (2 if self.bidirectional else 1)


VARIANTS = {
    "digits": dict(vocab_size=13, embed_dim=32, hidden_dim=64, attention_dim=64),
    "tiny": dict(vocab_size=13, embed_dim=8, hidden_dim=16, attention_dim=16),
}


def teacher_forcing_inputs(targets, bos_id: int):
    """The decoder's inputs: BOS, then the targets shifted right. Shapes: int [B,T] -> [B,T]."""
    return jnp.concatenate([jnp.full_like(targets[:, :1], bos_id), targets[:, :-1]], axis=1)


@dataclasses.dataclass(frozen=True)
class Encoded:
    """What the decoder reads: memory [B,S,K], mask bool [B,S] (True: real source position)."""

    memory: jax.Array
    mask: jax.Array


jax.tree_util.register_dataclass(Encoded, data_fields=["memory", "mask"], meta_fields=[])


@flax.struct.dataclass
class Seq2SeqCache:
    """Decoding state: the encoder output and the decoder's carry (None before the first call)."""

    encoded: Encoded | None
    carry: list | None


class Model(nn.Module):
    """Shapes: source int[B,S], source_lengths int[B] (in [1, S]), decoder_inputs int[B,T] ->
    float32 logits [B,T,V]; logits at step t depend on decoder_inputs[:, :t+1] only.

    `encode` and `decode` (via `model.apply(..., method=...)`) split the forward for step-by-step
    decoding: `decode(encoded, tokens [B,T], carry)` continues from a decoder carry. With `cache=`
    the call follows the decoding protocol (module docstring) and returns (logits, cache).
    """

    config: Config
    is_encoder_decoder = True  # the decoding protocol: the prompt is the source

    def setup(self):
        cfg = self.config
        param_dtype = jnp.dtype(cfg.param_dtype)
        dtypes = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=param_dtype)
        embed = lambda name: Embed(cfg.vocab_size, cfg.embed_dim, name=name, **dtypes)
        self.source_embed, self.target_embed = embed("source_embed"), embed("target_embed")
        self.encoder = RNN(
            cfg.cell, cfg.hidden_dim, num_layers=cfg.num_encoder_layers,
            bidirectional=cfg.bidirectional, **dtypes,
        )  # fmt: skip
        self.decoder = RNN(cfg.cell, cfg.decoder_size, **dtypes)
        self.attention = Attention(cfg.attention, cfg.attention_dim, param_dtype=param_dtype)
        k = cfg.decoder_size
        self.combine = EinsumDense("BTC,CK->BTK", (2 * k, k), ("hidden", "embed"), **dtypes)
        self.out = EinsumDense(
            "BTK,KV->BTV", (k, cfg.vocab_size), ("embed", "vocab"), ("vocab",), **dtypes
        )

    def encode(self, source, source_lengths) -> tuple[Encoded, list]:
        """Shapes: source int[B,S], lengths int[B] -> (Encoded, the decoder's initial carry)."""
        if source.ndim != 2 or source_lengths.shape != source.shape[:1]:
            raise ValueError(
                f"source must be int[B,S] with source_lengths int[B], got {source.shape} and "
                f"{source_lengths.shape}."
            )
        memory, finals = self.encoder(self.source_embed(source), lengths=source_lengths)
        mask = jnp.arange(source.shape[1])[None, :] < source_lengths[:, None]
        last = finals[-2:] if self.config.bidirectional else finals[-1:]
        # [fwd; bwd] final states of the last layer start the decoder (its width is K).
        carry = jax.tree.map(lambda *h: jnp.concatenate(h, axis=-1), *last)
        return Encoded(memory, mask), [carry]

    def decode(self, encoded: Encoded, decoder_inputs, carry):
        """Shapes: decoder_inputs int[B,T], carry from `encode` or a previous `decode` ->
        (logits float32 [B,T,V], attention weights [B,T,S], carry after the T steps)."""
        h, finals = self.decoder(self.target_embed(decoder_inputs), initial_carry=carry)
        context, weights = self.attention(h, encoded.memory, encoded.mask)
        attended = jnp.tanh(self.combine(jnp.concatenate([context, h], axis=-1)))
        return self.out(attended).astype(jnp.float32), weights, finals

    def attention_weights(self, source, source_lengths, decoder_inputs):
        """The teacher-forced decoder's attention. Shapes: source int[B,S], lengths int[B],
        decoder_inputs int[B,T] -> float32 [B,T,S] (0 on the padding)."""
        encoded, carry = self.encode(source, source_lengths)
        return self.decode(encoded, decoder_inputs, carry)[1]

    def __call__(
        self,
        source,
        source_lengths=None,
        decoder_inputs=None,
        *,
        mask=None,
        cache: Seq2SeqCache | None = None,
        train: bool = False,
    ):
        del train  # no dropout: the recurrent stack here is one layer deep
        if cache is None:
            if source_lengths is None or decoder_inputs is None:
                raise ValueError(
                    "seq2seq needs source_lengths and decoder_inputs for a full forward (BOS + "
                    "the targets shifted right, see teacher_forcing_inputs), or a cache to decode."
                )
            encoded, carry = self.encode(source, source_lengths)
            return self.decode(encoded, decoder_inputs, carry)[0]
        if source_lengths is not None or decoder_inputs is not None:
            raise ValueError(
                "With a cache, seq2seq takes one token array: the source on the first call (empty "
                "cache; mask= its right padding), the next decoder tokens afterwards."
            )
        if cache.encoded is None:  # first call: encode, then run BOS
            if mask is None:
                lengths = jnp.full(source.shape[:1], source.shape[1], jnp.int32)
            else:  # right padding: the real tokens are a prefix of each row
                lengths = jnp.sum(jnp.asarray(mask, bool), axis=-1).astype(jnp.int32)
            encoded, carry = self.encode(source, lengths)
            tokens = jnp.full((source.shape[0], 1), self.config.bos_id, jnp.int32)
        elif mask is not None:
            raise ValueError("mask is the source's padding, given on the first call only.")
        else:
            encoded, carry, tokens = cache.encoded, cache.carry, source
        logits, _, carry = self.decode(encoded, tokens, carry)
        return logits, Seq2SeqCache(encoded=encoded, carry=carry)

    def init_cache(self, batch_size: int, length: int) -> Seq2SeqCache:
        """An empty cache: the first call fills it. An RNN carry has no length limit, so neither
        `batch_size` nor `length` sizes anything here (the protocol passes them)."""
        del batch_size, length
        return Seq2SeqCache(encoded=None, carry=None)


make = contract.maker("seq2seq", Config, VARIANTS, Model)
