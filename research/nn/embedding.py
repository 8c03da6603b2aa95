"""A lookup table of learned vectors, usable both ways: ids -> vectors and vectors -> logits.

`attend` multiplies by the table's transpose, which is how a tied output layer (GPT-2, T5) turns
the final hidden state into vocabulary logits with the input embedding's parameters. A learned
position embedding is the same table indexed by position (`axes=(None, 'embed')`: positions are
never sharded).

Sharding: the table is stored sharded on both axes (vocab over `tensor`, embed over `fsdp`), but
ids are sharded over the batch, which also holds `fsdp`; XLA cannot partition a gather from that
layout and falls back to replicating the whole table or the whole batch of embeddings ("[SPMD]
Involuntary full rematerialization"). Both methods therefore first constrain the table to its
vocabulary sharding alone: the FSDP all-gather of the width that every weight gets, done once for
the lookup and the tied output together. XLA then partitions the gather over the vocabulary
shards: each gathers the rows it holds and an all-reduce over `tensor` adds zeros to the one real
row, so the lookup is exact, the values of the unsharded gather. Without a mesh or axis rules the
constraint is a no-op (the single-device program is unchanged).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class Embed(nn.Module):
    """A [V,D] table named `embedding`.

    Shapes: `__call__` ids int[...] -> [..., D]; `attend` x [..., D] -> float32 [..., V].

    Ids outside [0, V) are not checked here (they may be traced); `jnp.take` fills them with NaN.
    """

    num_embeddings: int
    features: int
    axes: tuple[str | None, str | None] = ("vocab", "embed")
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    embedding_init: nn.initializers.Initializer = nn.initializers.normal(0.02)

    def setup(self):
        self.embedding = self.param(
            "embedding",
            nn.with_logical_partitioning(self.embedding_init, self.axes),
            (self.num_embeddings, self.features),
            self.param_dtype,
        )

    def __call__(self, ids):
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            raise ValueError(f"Embed expects integer ids, got dtype {ids.dtype}; cast with astype.")
        # Vocabulary-sharded only (see the module docstring): a gather XLA can partition.
        table = nn.with_logical_constraint(self.embedding, (self.axes[0], None))
        return jnp.take(table, ids, axis=0).astype(self.dtype)

    def attend(self, x):
        """Logits against every row: x @ embedding.T, accumulated and returned in float32.

        The backward pass multiplies in the compute dtype (`logits_matmul`).
        """
        table = nn.with_logical_constraint(self.embedding, (self.axes[0], None))  # as __call__
        return logits_matmul(x.astype(self.dtype), table.astype(self.dtype))


@jax.custom_vjp
def logits_matmul(x, table):
    """x @ table.T with float32 accumulation and output: the output layer's logits.

    Shapes: x [..., D], table [V,D] (both in the compute dtype) -> float32 [..., V].

    The backward pass casts the logits' cotangent to the compute dtype before its two matmuls (dx =
    g @ table, dtable = g.T @ x), as mixed precision does everywhere else and as PyTorch's autocast
    does here (its logits are bfloat16). Plain autodiff would multiply the float32 cotangent by
    the bfloat16 operands in float32: on an H200, 7.5 ms of a 44 ms GPT-2-small step in TF32
    instead of ~3 ms in bfloat16 (experiments/benchmarks/step_profile.py). In float32 the cast is
    the identity and this equals autodiff.
    """
    return jnp.einsum("...D,VD->...V", x, table, preferred_element_type=jnp.float32)


def _logits_matmul_fwd(x, table):
    return logits_matmul(x, table), (x, table)


def _logits_matmul_bwd(residuals, g):
    x, table = residuals  # [..., D], [V,D]
    g = g.astype(x.dtype)  # [..., V]
    dx = jnp.einsum("...V,VD->...D", g, table, preferred_element_type=jnp.float32)
    dtable = jnp.einsum("...V,...D->VD", g, x, preferred_element_type=jnp.float32)
    return dx.astype(x.dtype), dtable.astype(table.dtype)


logits_matmul.defvjp(_logits_matmul_fwd, _logits_matmul_bwd)


def check_token_ids(tokens, vocab_size: int) -> None:
    """ValueError unless `tokens` are integer ids in [0, vocab_size).

    Concrete ids are range-checked; traced ids (under jit) only for their dtype: a model pairs
    this with `nan_where_invalid`, so an out-of-range id it could not refuse shows up as NaN.
    """
    try:  # np, not jnp: under a trace even a concrete array's jnp.min is a tracer
        host = np.asarray(tokens)
    except jax.errors.TracerArrayConversionError:
        if not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise ValueError(f"tokens must be integer ids, got dtype {tokens.dtype}.") from None
        return
    if not np.issubdtype(host.dtype, np.integer):
        raise ValueError(f"tokens must be integer ids, got dtype {host.dtype}.")
    if host.size and (host.min() < 0 or host.max() >= vocab_size):
        raise ValueError(
            f"token ids must lie in [0, {vocab_size}), got ids in [{host.min()}, {host.max()}]; "
            "check the tokenizer against the model's vocab_size."
        )


def nan_where_invalid(x, tokens, vocab_size: int):
    """Embeddings x [..., D] with NaN where tokens [...] leave [0, vocab_size).

    Padding rows of a table rounded up past vocab_size, or ids past the table, read no real
    embedding; NaN makes the loss non-finite, which the training loop reports, instead of a
    silently wrong but finite result.
    """
    valid = (tokens >= 0) & (tokens < vocab_size)
    return jnp.where(valid[..., None], x, jnp.nan)
