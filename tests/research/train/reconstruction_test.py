"""Tests for research/train/reconstruction.py: hand values, float64 references, scipy, PSNR."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from research.train.reconstruction import bernoulli_nll, gaussian_nll, mean_pair, psnr, sse


def test_sse_sums_each_example_over_all_its_axes():
    pred = np.zeros((2, 2, 2, 1), np.float32)
    target = np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1)
    np.testing.assert_array_equal(sse(pred, target), [0 + 1 + 4 + 9, 16 + 25 + 36 + 49])


def test_bernoulli_nll_matches_float64_and_stays_finite_for_saturated_logits():
    # A naive log(sigmoid(l)) gives -inf at l = -100; the softplus form must give exactly 100.
    logits = np.array([[0.0, 2.0, -3.0, 100.0, -100.0]], np.float32)
    targets = np.array([[1.0, 0.0, 0.3, 0.0, 1.0]], np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    with np.errstate(divide="ignore"):
        naive = -(targets * np.log(p) + (1 - targets) * np.log1p(-p))
    want = naive[0, :3].sum() + 100.0 + 100.0
    got = bernoulli_nll(logits, targets)
    assert got.shape == (1,) and np.isfinite(got).all()
    assert float(got[0]) == pytest.approx(want, rel=1e-6)
    # Logit 0 is p = 1/2: log 2 nats per pixel whatever the target.
    assert float(bernoulli_nll(jnp.zeros((1, 4)), jnp.ones((1, 4)))[0]) == pytest.approx(
        4 * np.log(2), rel=1e-6
    )


def test_gaussian_nll_equals_scipy_logpdf():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    x = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    want = -stats.norm.logpdf(x, mean, 0.3).reshape(3, -1).sum(-1)
    np.testing.assert_allclose(gaussian_nll(mean, x, 0.3), want, rtol=1e-5)


def test_psnr_hand_values():
    target = np.zeros((2, 10), np.float32)
    pred = target.copy()
    pred[0] = 0.1  # per-pixel MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    out = psnr(pred, target)
    assert float(out[0]) == pytest.approx(20.0, rel=1e-5)
    assert np.isposinf(out[1])  # a perfect reconstruction
    assert float(psnr(pred[:1], target[:1], max_value=255.0)[0]) == pytest.approx(
        20 + 20 * np.log10(255), rel=1e-5
    )


def test_mean_pair_weights_and_per_pixel_size():
    total, count = mean_pair(jnp.array([1.0, 3.0, 100.0]), jnp.array([1.0, 1.0, 0.0]), size=4)
    assert (float(total), float(count)) == (4.0, 8.0)  # the padded row counts for nothing
    assert [float(v) for v in mean_pair(jnp.array([2.0, 4.0]))] == [6.0, 2.0]


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"must have the same shape, got \(2, 3\) and \(2, 4\)"):
        sse(np.zeros((2, 3)), np.zeros((2, 4)))
