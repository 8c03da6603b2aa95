"""Tests for research/nn/kv_cache.py: writes land at the index, masks at the right offset, and
overflowing writes are refused instead of clamped."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.kv_cache import KVCache


def test_append_writes_at_the_index_and_advances_it():
    cache = KVCache.zeros(1, 5, 1, 2)
    k = jnp.arange(6.0).reshape(1, 3, 1, 2)
    cache = cache.append(k, -k)
    cache = cache.append(jnp.full((1, 1, 1, 2), 9.0), jnp.full((1, 1, 1, 2), -9.0))
    assert int(cache.index) == 4
    np.testing.assert_array_equal(cache.key[0, :, 0], [[0, 1], [2, 3], [4, 5], [9, 9], [0, 0]])
    np.testing.assert_array_equal(cache.value, -cache.key)


def test_causal_mask_sits_at_the_queries_positions():
    cache = KVCache.zeros(1, 5, 1, 2)
    cache = cache.append(jnp.ones((1, 2, 1, 2)), jnp.ones((1, 2, 1, 2)))  # positions 0, 1
    cache = cache.append(jnp.ones((1, 2, 1, 2)), jnp.ones((1, 2, 1, 2)))  # queries at 2, 3
    np.testing.assert_array_equal(
        cache.attention_mask(2, causal=True),
        [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]],
    )
    np.testing.assert_array_equal(
        cache.attention_mask(2, causal=False),
        [[1, 1, 1, 1, 0], [1, 1, 1, 1, 0]],
    )


def test_overflow_is_refused_eagerly_and_the_index_is_traced_under_jit():
    cache = KVCache.zeros(1, 3, 1, 2).append(jnp.ones((1, 2, 1, 2)), jnp.ones((1, 2, 1, 2)))
    with pytest.raises(ValueError, match="holds 3 positions and 2 are filled; 2 more do not fit"):
        cache.append(jnp.ones((1, 2, 1, 2)), jnp.ones((1, 2, 1, 2)))
    appended = jax.jit(lambda c, k: c.append(k, k))(cache, jnp.ones((1, 1, 1, 2)))
    assert int(appended.index) == 3


def test_shapes_are_checked():
    cache = KVCache.zeros(2, 4, 3, 5)
    with pytest.raises(ValueError, match="cannot take keys"):
        cache.append(jnp.ones((2, 1, 3, 4)), jnp.ones((2, 1, 3, 4)))
    with pytest.raises(ValueError, match="must be >= 1"):
        KVCache.zeros(0, 4, 3, 5)
