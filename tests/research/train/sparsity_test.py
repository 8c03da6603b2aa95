"""Tests for research/train/sparsity.py: penalties against hand values, and top-k."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.train.sparsity import (
    inactive_fraction,
    kl_sparsity,
    l1_activity,
    mean_activation,
    top_k,
    top_k_mask,
)


def test_l1_activity_hand_values():
    np.testing.assert_array_equal(
        l1_activity(jnp.array([[1.0, -2.0, 0.5], [0.0, 0.0, -3.0]])), [3.5, 3.0]
    )


def test_mean_activation_ignores_zero_weight_rows():
    z = jnp.array([[0.2, 0.4], [0.4, 0.8], [9.0, 9.0]])
    np.testing.assert_allclose(
        mean_activation(z, jnp.array([1.0, 1.0, 0.0])), [0.3, 0.6], rtol=1e-6
    )


def test_kl_sparsity_hand_values():
    assert float(kl_sparsity(0.5, jnp.array([0.5, 0.5]))) == pytest.approx(0.0, abs=1e-7)
    # KL(0.1 || 0.5) = 0.1 log(0.2) + 0.9 log(1.8); the unit at its target adds 0.
    want = 0.1 * np.log(0.1 / 0.5) + 0.9 * np.log(0.9 / 0.5)
    assert float(kl_sparsity(0.1, jnp.array([0.1, 0.5]))) == pytest.approx(want, rel=1e-6)
    # A dead unit (rho_hat = 0) is clipped: large but finite.
    assert np.isfinite(float(kl_sparsity(0.1, jnp.array([0.0]))))
    with pytest.raises(ValueError, match=r"rho=1.0 must lie in \(0, 1\)"):
        kl_sparsity(1.0, jnp.array([0.5]))


def test_kl_sparsity_gradient_pushes_mean_activation_toward_the_target():
    grad = jax.grad(lambda r: kl_sparsity(0.05, r))(jnp.array([0.2, 0.01, 0.05]))
    assert grad[0] > 0 and grad[1] < 0 and float(grad[2]) == pytest.approx(0.0, abs=1e-5)


def test_top_k_keeps_exactly_the_k_largest():
    z = jax.random.normal(jax.random.key(0), (50, 16))
    mask = top_k_mask(z, 3)
    np.testing.assert_array_equal(mask.sum(-1), 3.0)
    kept_min = jnp.min(jnp.where(mask > 0, z, jnp.inf), -1)
    dropped_max = jnp.max(jnp.where(mask > 0, -jnp.inf, z), -1)
    assert bool(jnp.all(kept_min > dropped_max))
    # Ties keep exactly k too (lower index first).
    np.testing.assert_array_equal(top_k_mask(jnp.zeros((1, 4)), 2), [[1.0, 1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="0 < k <= 16"):
        top_k_mask(z, 17)


def test_top_k_passes_gradients_to_kept_units_only():
    z = jnp.array([[3.0, -1.0, 2.0, 0.5]])
    np.testing.assert_array_equal(top_k(z, 2), [[3.0, 0.0, 2.0, 0.0]])
    np.testing.assert_array_equal(jax.grad(lambda v: top_k(v, 2).sum())(z), [[1.0, 0.0, 1.0, 0.0]])


def test_inactive_fraction_counts_small_codes_with_weights():
    z = jnp.array([[0.0, 0.005, 0.5], [-0.001, 1.0, 1.0], [0.0, 0.0, 0.0]])
    total, count = inactive_fraction(z, 0.01, jnp.array([1.0, 1.0, 0.0]))
    assert (float(total), float(count)) == (3.0, 6.0)
