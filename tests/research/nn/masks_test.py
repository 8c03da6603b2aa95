"""Tests for research/nn/masks.py: each mask by hand, and the invariants the masks exist for,
checked through MultiHeadAttention: a padded key changes no output, a future token changes no
earlier output, and packed segments do not see each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.attention import MultiHeadAttention
from research.nn.masks import causal_mask, combine, padding_mask, segment_mask


def test_masks_by_hand():
    np.testing.assert_array_equal(
        padding_mask(jnp.array([[1, 1, 0]]))[0, 0, 0], [True, True, False]
    )
    np.testing.assert_array_equal(causal_mask(3)[0, 0], [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    # One query after two cached keys, capacity 4: sees keys 0..2.
    np.testing.assert_array_equal(causal_mask(1, 4, offset=2)[0, 0], [[1, 1, 1, 0]])
    segments = jnp.array([[1, 1, 2, 0]])
    np.testing.assert_array_equal(
        segment_mask(segments)[0, 0],
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]],
    )
    both = combine(causal_mask(4), segment_mask(segments), None)
    np.testing.assert_array_equal(
        both[0, 0], [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    )
    assert combine(None, None) is None


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"key_valid must be \[B, S\]"):
        padding_mask(jnp.ones(3))
    with pytest.raises(ValueError, match=r"segment ids must be \[B, T\] and \[B, S\]"):
        segment_mask(jnp.ones(3, int))


def _layer_and_params(seed=0, width=8):
    layer = MultiHeadAttention(num_heads=2, head_dim=4)
    params = layer.init(jax.random.key(seed), jnp.zeros((1, 6, width)))["params"]
    return layer, params


def _inputs(seed, shape=(2, 6, 8)):
    return jax.random.normal(jax.random.key(seed), shape)


def test_a_padded_position_changes_no_output():
    layer, params = _layer_and_params()
    x = _inputs(1)
    valid = jnp.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]])
    mask = padding_mask(valid)
    changed = x.at[0, 4:].set(100.0).at[1, 5].set(-7.0)  # new values at the padded positions only
    out = layer.apply({"params": params}, x, mask=mask)
    out_changed = layer.apply({"params": params}, changed, mask=mask)
    real = np.asarray(valid, bool)
    np.testing.assert_allclose(np.asarray(out)[real], np.asarray(out_changed)[real], atol=1e-6)
    # Without the mask the same change moves every output: the test can fail.
    unmasked = layer.apply({"params": params}, changed)
    assert not np.allclose(np.asarray(out)[real], np.asarray(unmasked)[real], atol=1e-3)


def test_a_future_token_changes_no_earlier_output():
    layer, params = _layer_and_params()
    x = _inputs(2)
    changed = x.at[:, 3].set(5.0)
    out = layer.apply({"params": params}, x, mask=causal_mask(6))
    out_changed = layer.apply({"params": params}, changed, mask=causal_mask(6))
    np.testing.assert_allclose(out[:, :3], out_changed[:, :3], atol=1e-6)
    assert not np.allclose(out[:, 3:], out_changed[:, 3:], atol=1e-3)


def test_packed_segments_equal_separate_sequences():
    # Two sequences packed in one row (lengths 2 and 3, one padding slot) under a causal segment
    # mask give exactly the outputs of each sequence run alone.
    layer, params = _layer_and_params()
    x = _inputs(3, (1, 6, 8))
    segments = jnp.array([[1, 1, 2, 2, 2, 0]])
    mask = combine(causal_mask(6), segment_mask(segments))
    packed = layer.apply({"params": params}, x, mask=mask)
    first = layer.apply({"params": params}, x[:, :2], mask=causal_mask(2))
    second = layer.apply({"params": params}, x[:, 2:5], mask=causal_mask(3))
    np.testing.assert_allclose(packed[:, :2], first, atol=1e-6)
    np.testing.assert_allclose(packed[:, 2:5], second, atol=1e-6)
