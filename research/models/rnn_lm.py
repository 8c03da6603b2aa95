"""A recurrent language model: embedding -> LSTM / GRU / Elman stack -> vocabulary logits
(Mikolov et al., 2010; Zaremba et al., 2014; tied input and output embeddings: Press and Wolf, 2017,
Inan et al., 2017).

Token embedding -> dropout -> `num_layers` recurrent layers of `hidden_dim` units
(`research.rnn.layer.RNN`, dropout between layers) -> dropout -> output layer, logits in float32.

Output layer, tied (default): `proj` maps H -> D when hidden_dim != embed_dim, then the logits are
`embed.attend` (the input table's transpose). Tying is the standard choice for RNN LMs: it removes
the [H,V] matrix (half the parameters of a small model with a large vocabulary) and regularizes;
the projection is what lets the recurrent width differ from the embedding width. Untied
(`tie_embeddings=False`): a separate `out` layer [H,V] with a bias, as in Zaremba et al.

Parameter tree (names are API, converters and LoRA select them by path):
  embed/embedding [V,D]; rnn/layer_{l}_fwd/{wi [I,G,H], wh [H,G,H], bi [G,H], bh [G,H]}
  (I = D for layer 0, else H; G gates, see `research.rnn.cells`);
  tied: proj/kernel [H,D] (only when H != D); untied: out/kernel [H,V], out/bias [V].

The decoding cache (`research.generate` protocol) is the list of per-layer carries, h [B,H] or
(h, c) for the LSTM: a constant-size state, so there is no length limit and no `max_len`.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.models import contract
from research.nn.dense import EinsumDense
from research.nn.embedding import Embed, check_token_ids, nan_where_invalid
from research.nn.vocab_padding import padded_vocab_size
from research.rnn.cells import KINDS, Cell
from research.rnn.layer import RNN


@dataclasses.dataclass(frozen=True)
class Config:
    """Model hyperparameters. Defaults are the 'tiny' variant (1,134,592 parameters, of which
    16,128 are vocabulary padding)."""

    vocab_size: int = 257  # 256 bytes + one end-of-text token
    # The embedding table has vocab_size rounded up to this multiple (as in transformer_lm): the
    # padding rows' logits are sliced off, so the model is exactly a vocab_size-way classifier.
    vocab_pad_multiple: int = 64
    cell: str = "lstm"  # one of research.rnn.cells.KINDS
    num_layers: int = 2
    embed_dim: int = 256
    hidden_dim: int = 256
    dropout_rate: float = 0.0  # on the embeddings, between layers and on the last layer's output
    forget_bias: float = 1.0  # added to the LSTM forget gate's bias at init (Jozefowicz et al.)
    tie_embeddings: bool = True
    # Embedding init, uniform in +-embed_init_scale. Small tables (GPT-2's normal(0.02), or 0.1 as
    # in Zaremba et al.) left the main job's LSTM at the unigram loss (3.3-3.4 nats/byte at step
    # 60, 3.36 still at step 100 with 0.02): the gates barely see the input, and the tied logits
    # barely see h. With 1.0 it was at 2.25 by step 60.
    embed_init_scale: float = 1.0
    unroll: int = 1  # lax.scan unroll of the recurrence (speed only)
    dtype: str = "float32"  # compute dtype, e.g. 'bfloat16'
    param_dtype: str = "float32"

    def __post_init__(self):
        if self.cell not in KINDS:
            raise ValueError(f"Unknown cell {self.cell!r}; choose one of {', '.join(KINDS)}.")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}.")
        padded_vocab_size(self.vocab_size, self.vocab_pad_multiple)  # refuses sizes below 1
        contract.check_dtypes(self)

    @property
    def padded_vocab_size(self) -> int:
        return padded_vocab_size(self.vocab_size, self.vocab_pad_multiple)

    @property
    def has_projection(self) -> bool:
        return self.tie_embeddings and self.hidden_dim != self.embed_dim


VARIANTS = {
    # The main job's byte-level model (experiments/configs/lm/lstm.py).
    "tiny": dict(vocab_size=257, num_layers=2, embed_dim=256, hidden_dim=256),
    # Zaremba et al. (2014) on the Penn Treebank (10K words): small (no dropout) and medium,
    # untied, with their embedding init (the RNN layers keep PyTorch's).
    "zaremba_small": dict(
        vocab_size=10000, num_layers=2, embed_dim=200, hidden_dim=200, tie_embeddings=False,
        forget_bias=0.0, embed_init_scale=0.1,
    ),
    "zaremba_medium": dict(
        vocab_size=10000, num_layers=2, embed_dim=650, hidden_dim=650, tie_embeddings=False,
        forget_bias=0.0, embed_init_scale=0.05, dropout_rate=0.5,
    ),
}  # fmt: skip


class Model(nn.Module):
    """The language model. Shapes: tokens int32[B,T] -> float32 logits [B,T,V]; with
    `cache=` (per-layer carries), (logits, the carries after the last token).

    Logits at position t depend only on tokens[:, :t+1]. Token ids must lie in [0, vocab_size):
    concrete ids are checked (ValueError); under jit they cannot be, and an out-of-range id
    (padding rows included) makes the logits NaN from its position on, which the training loop
    reports as a non-finite loss.

    Incremental decoding (the `research.generate` protocol): `cache = model.init_cache(B, L)`,
    then `logits, cache = model.apply({'params': p}, tokens, cache=cache)` for the prompt and
    again for each new token; the tokens continue the sequence the cache holds.
    """

    config: Config

    def init_cache(self, batch_size: int, length: int) -> list:
        """Zero carries, one per layer. `length` is unused: a recurrent state has no length limit."""
        del length
        cfg = self.config
        cell = Cell(cfg.cell, cfg.hidden_dim)
        return [cell.zero_carry(batch_size, jnp.dtype(cfg.dtype)) for _ in range(cfg.num_layers)]

    @nn.compact
    def __call__(self, tokens, *, cache: list | None = None, train: bool = False):
        cfg = self.config
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be int32[B,T], got shape {tokens.shape}.")
        check_token_ids(tokens, cfg.vocab_size)
        if cache is not None and len(cache) != cfg.num_layers:
            raise ValueError(
                f"cache has {len(cache)} entries; expected one carry per layer, "
                f"{cfg.num_layers}: build it with model.init_cache."
            )

        scale = cfg.embed_init_scale
        embed = Embed(
            cfg.padded_vocab_size,
            cfg.embed_dim,
            dtype=dtype,
            param_dtype=param_dtype,
            embedding_init=lambda key, shape, dtype: jax.random.uniform(
                key, shape, dtype, -scale, scale
            ),
            name="embed",
        )
        x = embed(tokens)  # [B,T,D]
        x = nan_where_invalid(x, tokens, cfg.vocab_size)
        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        x = nn.with_logical_constraint(x, ("batch", "length", "embed"))

        rnn = RNN(
            cfg.cell,
            cfg.hidden_dim,
            num_layers=cfg.num_layers,
            dropout_rate=cfg.dropout_rate,
            forget_bias=cfg.forget_bias,
            unroll=cfg.unroll,
            dtype=dtype,
            param_dtype=param_dtype,
            name="rnn",
        )
        x, carries = rnn(x, initial_carry=cache, train=train)  # [B,T,H]
        x = nn.Dropout(cfg.dropout_rate, deterministic=not train)(x)
        x = nn.with_logical_constraint(x, ("batch", "length", "hidden"))

        dense = lambda name, shape, axes, bias_axes: EinsumDense(
            "BTH,HO->BTO", shape, axes, bias_axes, dtype=dtype, param_dtype=param_dtype, name=name
        )
        if cfg.tie_embeddings:
            if cfg.has_projection:
                x = dense("proj", (cfg.hidden_dim, cfg.embed_dim), ("hidden", "embed"), None)(x)
            logits = embed.attend(x)
        else:
            shape = (cfg.hidden_dim, cfg.padded_vocab_size)
            logits = dense("out", shape, ("hidden", "vocab"), ("vocab",))(x)
        logits = logits[..., : cfg.vocab_size].astype(jnp.float32)  # [B,T,V], padding dropped
        logits = nn.with_logical_constraint(logits, ("batch", "length", "vocab"))
        return logits if cache is None else (logits, carries)


make = contract.maker("rnn_lm", Config, VARIANTS, Model)


def num_params(config: Config) -> int:
    """Exact parameter count, computed from the config without initializing."""
    d, h, v = config.embed_dim, config.hidden_dim, config.padded_vocab_size
    g = Cell(config.cell, h).num_gates
    recurrent = sum(
        (d if layer == 0 else h) * g * h + h * g * h + 2 * g * h  # wi, wh, bi, bh
        for layer in range(config.num_layers)
    )
    projection = h * d if config.has_projection else 0
    output = projection if config.tie_embeddings else h * v + v  # untied: kernel and bias
    return v * d + recurrent + output


def flops_per_token(config: Config, seq_len: int) -> float:
    """Training FLOPs (forward + backward) per token: 6 N, N every parameter used in a matmul.

    That is every parameter but the input embedding, whose lookup is no matmul (a tied table is
    also the output layer, so it counts). Unlike a transformer's 12 L D T attention term, the
    recurrence costs the same per token at every length: `seq_len` is unused.
    """
    del seq_len
    n = num_params(config)
    if not config.tie_embeddings:
        n -= config.padded_vocab_size * config.embed_dim
    return 6.0 * n
