"""The paged cache holds what the contiguous cache holds, wherever its blocks sit in the pool, and
masks what a row has not written."""

import jax
import jax.numpy as jnp
import numpy as np

from research.nn.attention import MultiHeadAttention
from research.nn.kv_cache import KVCache
from research.nn.paged_kv_cache import NULL_BLOCK, PagedKVCache


def paged(block_table, index, num_blocks=8, block_size=2, heads=2, head_dim=3):
    keys, values = PagedKVCache.pool(num_blocks, block_size, heads, head_dim, jnp.float32)
    return PagedKVCache(
        keys, values, jnp.asarray(block_table, jnp.int32), jnp.asarray(index, jnp.int32)
    )


def test_rows_write_at_their_own_lengths_into_scattered_blocks():
    # Row 0 has 1 position written, row 1 has 3; blocks out of order in the pool.
    cache = paged([[5, 2, 0], [3, 7, 1]], [1, 3])
    k = jnp.arange(2 * 2 * 2 * 3, dtype=jnp.float32).reshape(2, 2, 2, 3) + 1
    cache = cache.append(k, -k)
    np.testing.assert_array_equal(cache.index, [3, 5])
    # Row 0 positions 1, 2 -> block 5 slot 1, block 2 slot 0; row 1 positions 3, 4 -> block 7
    # slot 1, block 1 slot 0.
    np.testing.assert_array_equal(cache.key_pages[5, 1], k[0, 0])
    np.testing.assert_array_equal(cache.key_pages[2, 0], k[0, 1])
    np.testing.assert_array_equal(cache.key_pages[7, 1], k[1, 0])
    np.testing.assert_array_equal(cache.value_pages[1, 0], -k[1, 1])
    # The dense view puts position p at index p.
    np.testing.assert_array_equal(cache.key[0, 1:3], k[0])
    np.testing.assert_array_equal(cache.key[1, 3:5], k[1])
    # Causal mask [B,1,T,L]: query t of row r sees positions <= index[r] - T + t.
    mask = cache.attention_mask(2, causal=True)
    assert mask.shape == (2, 1, 2, 6)
    np.testing.assert_array_equal(mask[0, 0], [[1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(mask[1, 0], [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]])


def test_positions_past_the_table_go_to_the_null_block():
    cache = paged([[4]], [1])  # one block of 2 slots: position 2 has no block
    cache = cache.append(jnp.ones((1, 2, 2, 3)), jnp.ones((1, 2, 2, 3)))
    np.testing.assert_array_equal(cache.key_pages[4, 1], np.ones((2, 3)))
    np.testing.assert_array_equal(cache.key_pages[NULL_BLOCK, 0], np.ones((2, 3)))
    assert float(jnp.abs(cache.key_pages[5:]).sum()) == 0


def test_attention_on_the_paged_cache_equals_attention_on_the_contiguous_cache():
    layer = MultiHeadAttention(num_heads=2, head_dim=3)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6))
    params = layer.init(jax.random.PRNGKey(1), x[:, :1])["params"]
    dense = KVCache.zeros(2, 8, 2, 3)
    pages = paged([[6, 1, 3, 0], [2, 5, 7, 4]], [0, 0])
    step = jax.jit(lambda x, cache: layer.apply({"params": params}, x, causal=True, cache=cache))
    for start, stop in [(0, 3), (3, 4), (4, 5)]:  # a prefill of 3, then one token at a time
        want, dense = step(x[:, start:stop], dense)
        got, pages = step(x[:, start:stop], pages)
        np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(pages.key[:, :5], dense.key[:, :5], atol=1e-6)
