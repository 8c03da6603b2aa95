"""A key/value cache for incremental (autoregressive) attention, passed in and returned explicitly.

Decoding one token at a time, the keys and values of the earlier positions do not change, so each
self-attention layer keeps them in a fixed-size buffer instead of recomputing them: `append` writes
the new positions' keys and values at `index` and advances it. The buffer has a fixed capacity L
(shapes stay static under jit); positions not yet written are masked out by `attention_mask`.

Shapes: key, value [B,L,N,H]; index int32 scalar (positions filled so far, shared by the batch).
"""

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class KVCache:
    key: jax.Array  # [B,L,N,H]
    value: jax.Array  # [B,L,N,H]
    index: jax.Array  # int32 []: the position the next token is written at

    @classmethod
    def zeros(
        cls, batch_size: int, capacity: int, num_heads: int, head_dim: int, dtype=jnp.float32
    ):
        """An empty cache for `capacity` positions."""
        if min(batch_size, capacity, num_heads, head_dim) < 1:
            raise ValueError(
                f"KVCache sizes must be >= 1, got batch_size={batch_size}, capacity={capacity}, "
                f"num_heads={num_heads}, head_dim={head_dim}."
            )
        shape = (batch_size, capacity, num_heads, head_dim)
        return cls(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((), jnp.int32))

    @property
    def capacity(self) -> int:
        return self.key.shape[1]

    def append(self, k, v) -> "KVCache":
        """The cache with k, v [B,T,N,H] written at positions index .. index+T-1.

        Raises ValueError when the write would pass the capacity and `index` is concrete; under
        jit the caller checks the length beforehand (the decoding loop does), since a traced
        index cannot be checked and `dynamic_update_slice` would clamp the write.
        """
        if (
            k.shape != v.shape
            or k.shape[0] != self.key.shape[0]
            or k.shape[2:] != self.key.shape[2:]
        ):
            raise ValueError(
                f"KVCache of shape {self.key.shape} cannot take keys {k.shape} and values "
                f"{v.shape}; expected [B,T,N,H] with B, N, H as the cache's."
            )
        try:
            filled = int(self.index)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError):
            filled = None  # traced: checked by the caller
        if filled is not None and filled + k.shape[1] > self.capacity:
            raise ValueError(
                f"The KV cache holds {self.capacity} positions and {filled} are filled; "
                f"{k.shape[1]} more do not fit. Create it with a larger capacity."
            )
        start = (0, self.index, 0, 0)
        return KVCache(
            key=jax.lax.dynamic_update_slice(self.key, k.astype(self.key.dtype), start),
            value=jax.lax.dynamic_update_slice(self.value, v.astype(self.value.dtype), start),
            index=self.index + k.shape[1],
        )

    def attention_mask(self, num_queries: int, *, causal: bool):
        """Which cached keys the next `num_queries` positions may attend to, after `append`.

        Shape: bool [T, L]. Query t sits at position index - T + t (index already advanced);
        it sees keys at positions <= its own when causal, otherwise every written key.
        """
        key_pos = jnp.arange(self.capacity)[None, :]  # [1, L]
        query_pos = self.index - num_queries + jnp.arange(num_queries)[:, None]  # [T, 1]
        if causal:
            return key_pos <= query_pos
        return jnp.broadcast_to(key_pos < self.index, (num_queries, self.capacity))
