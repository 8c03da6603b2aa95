"""Tests for research/data/corruption.py: identity at rate 0, and each corruption's statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.data.corruption import KINDS, corrupt

X = jax.random.uniform(jax.random.key(0), (200, 28, 28, 1))  # 156,800 pixels in [0, 1)


@pytest.mark.parametrize("kind", ["none", *KINDS])
def test_rate_zero_is_the_identity(kind):
    np.testing.assert_array_equal(corrupt(jax.random.key(1), X, kind, 0.0), X)


def test_masking_zeroes_the_given_fraction_and_keeps_the_rest():
    out = np.asarray(corrupt(jax.random.key(2), X, "masking", 0.25))
    changed = out != np.asarray(X)
    assert changed.mean() == pytest.approx(0.25, abs=0.005)  # binomial sd 0.0011
    assert (out[changed] == 0).all()


def test_salt_and_pepper_sets_pixels_to_0_or_1_at_the_rate():
    x = jnp.full((200, 28, 28, 1), 0.5)  # 0.5 never equals a replacement value
    out = np.asarray(corrupt(jax.random.key(3), x, "salt_and_pepper", 0.2))
    hit = out != 0.5
    assert hit.mean() == pytest.approx(0.2, abs=0.005)
    assert set(np.unique(out[hit])) == {0.0, 1.0}
    assert (out[hit] == 1.0).mean() == pytest.approx(0.5, abs=0.01)  # salt and pepper equally


def test_gaussian_adds_noise_of_the_given_std():
    noise = np.asarray(corrupt(jax.random.key(4), X, "gaussian", 0.3) - X)
    assert noise.mean() == pytest.approx(0.0, abs=0.005)
    assert noise.std() == pytest.approx(0.3, rel=0.01)


def test_the_rng_alone_decides_the_noise():
    a = corrupt(jax.random.key(5), X, "masking", 0.5)
    np.testing.assert_array_equal(a, corrupt(jax.random.key(5), X, "masking", 0.5))
    assert not np.array_equal(a, corrupt(jax.random.key(6), X, "masking", 0.5))


def test_bad_kind_or_rate_is_refused():
    with pytest.raises(ValueError, match=r"Unknown corruption 'blur'; choose 'none' or one of"):
        corrupt(jax.random.key(0), X, "blur", 0.1)
    with pytest.raises(ValueError, match=r"must be a noise std >= 0 \(gaussian\) or a probability"):
        corrupt(jax.random.key(0), X, "masking", 1.5)
