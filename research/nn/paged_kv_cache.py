"""A paged key/value cache: the positions of every sequence live in fixed-size blocks of one shared
pool, found through a per-sequence block table (vLLM's PagedAttention memory layout, Kwon et al.
2023), with the interface of `research.nn.kv_cache.KVCache`, so the attention layer and the models
run on it unchanged.

A contiguous `KVCache` reserves `capacity` slots per row up front; a server that does not know how
long each answer will be wastes most of them. Here the pool holds P blocks of S slots each, and
sequence r's logical position p lives in physical block `block_table[r, p // S]`, slot `p % S`.
Blocks are handed out as a sequence grows and returned when it ends (`research.serve.blocks`), and
two sequences with the same prompt prefix can point at the same blocks.

Each row has its own length (`index`, the position its next token is written at): rows of a batch
are different requests at different points of their answers. `append` writes the new tokens at
positions index .. index+T-1 of each row; `key` / `value` gather each row's blocks into a dense
[B, M*S, K, H] view for the attention (positions past a row's length are masked out by
`attention_mask`). Block 0 is the null block: table entries a row has not been given point to it,
and writes past a row's blocks (the padding of a short prefill chunk, rows that pad a batch) land
there, where no query ever reads them unmasked. The allocator never hands it out.

Shapes: key_pages, value_pages [P,S,K,H]; block_table int32 [B,M]; index int32 [B].
"""

import flax.struct
import jax
import jax.numpy as jnp

NULL_BLOCK = 0


@flax.struct.dataclass
class PagedKVCache:
    key_pages: jax.Array  # [P,S,K,H]: P blocks of S slots, K key/value heads of size H
    value_pages: jax.Array  # [P,S,K,H]
    block_table: jax.Array  # int32 [B,M]: row r's i-th block of positions is block_table[r, i]
    index: jax.Array  # int32 [B]: the position each row's next token is written at

    @classmethod
    def pool(cls, num_blocks: int, block_size: int, num_heads: int, head_dim: int, dtype):
        """Empty pages [num_blocks, block_size, num_heads, head_dim] (block 0 the null block);
        `view` attaches a batch's block table to them."""
        if num_blocks < 2 or min(block_size, num_heads, head_dim) < 1:
            raise ValueError(
                f"A paged cache needs >= 2 blocks (block 0 is the null block) and sizes >= 1, got "
                f"num_blocks={num_blocks}, block_size={block_size}, num_heads={num_heads}, "
                f"head_dim={head_dim}."
            )
        shape = (num_blocks, block_size, num_heads, head_dim)
        return jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)

    @property
    def block_size(self) -> int:
        return self.key_pages.shape[1]

    @property
    def capacity(self) -> int:
        """Positions one row can address: M blocks of S slots."""
        return self.block_table.shape[1] * self.block_size

    def append(self, k, v) -> "PagedKVCache":
        """The cache with k, v [B,T,K,H] written at positions index .. index+T-1 of each row.

        A position whose block the table does not hold (p // S >= M) goes to the null block."""
        batch, length = k.shape[:2]
        if (
            k.shape != v.shape
            or batch != self.block_table.shape[0]
            or (k.shape[2:] != self.key_pages.shape[2:])
        ):
            raise ValueError(
                f"A paged cache with pages {self.key_pages.shape} and block table "
                f"{self.block_table.shape} cannot take keys {k.shape} and values {v.shape}; "
                "expected [B,T,K,H] with B the table's rows and K, H the pages'."
            )
        positions = self.index[:, None] + jnp.arange(length)[None, :]  # [B,T]
        logical_block = positions // self.block_size
        in_table = logical_block < self.block_table.shape[1]
        block = jnp.take_along_axis(
            self.block_table, jnp.minimum(logical_block, self.block_table.shape[1] - 1), axis=1
        )
        block = jnp.where(in_table, block, NULL_BLOCK)  # [B,T]
        slot = positions % self.block_size
        return self.replace(
            key_pages=self.key_pages.at[block, slot].set(k.astype(self.key_pages.dtype)),
            value_pages=self.value_pages.at[block, slot].set(v.astype(self.value_pages.dtype)),
            index=self.index + length,
        )

    def _gather(self, pages):
        batch, blocks = self.block_table.shape
        rows = pages[self.block_table]  # [B,M,S,K,H]
        return rows.reshape(batch, blocks * self.block_size, *pages.shape[2:])

    @property
    def key(self):
        """Each row's keys as a dense view [B, M*S, K, H], position p at index p."""
        return self._gather(self.key_pages)

    @property
    def value(self):
        return self._gather(self.value_pages)

    def attention_mask(self, num_queries: int, *, causal: bool):
        """Which positions the last `num_queries` written positions of each row may attend to,
        after `append`. Shape: bool [B,1,T,M*S] (the attention's [B,N,T,S], one mask for all
        heads). Query t of row r sits at position index[r] - T + t."""
        key_pos = jnp.arange(self.capacity)[None, None, :]  # [1,1,L]
        query_pos = self.index[:, None, None] - num_queries + jnp.arange(num_queries)[None, :, None]
        if causal:
            return (key_pos <= query_pos)[:, None]
        return jnp.broadcast_to(
            key_pos < self.index[:, None, None], query_pos.shape[:2] + (self.capacity,)
        )[:, None]

    def positions(self, num_queries: int):
        """The positions int32 [B,T] of the next `num_queries` tokens of each row (before
        `append`): where a model's position embedding or rotation reads them."""
        return self.index[:, None] + jnp.arange(num_queries)[None, :]
