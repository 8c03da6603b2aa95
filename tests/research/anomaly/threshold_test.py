"""Tests for research/anomaly/threshold.py: percentile and best-F1 thresholds, ranges."""

import numpy as np
import pytest

from research.anomaly import threshold


def test_percentile_threshold_is_numpys_linear_percentile():
    assert threshold.percentile_threshold(np.arange(11.0), 90) == pytest.approx(9.0)
    assert threshold.percentile_threshold(np.array([1.0, 3.0]), 50) == pytest.approx(2.0)


def test_best_f1_threshold_by_hand():
    scores = np.array([0.1, 0.9, 0.3, 0.8, 0.2])
    labels = np.array([0, 1, 0, 1, 0])
    t = threshold.best_f1_threshold(scores, labels)
    assert 0.3 <= t < 0.8  # flags exactly 0.9 and 0.8: F1 = 1
    np.testing.assert_array_equal(threshold.flag(scores, t), labels.astype(bool))
    # One labelled point hidden among normal ones: flagging the top two (F1 2/3) beats flagging all
    # five (F1 1/3), and 0.5 * (0.9 + 0.8) keeps only the top one (F1 0).
    t = threshold.best_f1_threshold(scores, np.array([0, 0, 0, 1, 0]))
    assert t == pytest.approx(0.55)


def test_to_ranges_are_inclusive_runs():
    mask = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert threshold.to_ranges(mask) == [(0, 1), (4, 4), (6, 8)]
    assert threshold.to_ranges(np.zeros(4, bool)) == []


def test_bad_calibration_inputs():
    with pytest.raises(ValueError, match="held-out normal part is empty"):
        threshold.percentile_threshold(np.array([]), 99)
    with pytest.raises(ValueError, match=r"must be in \[0, 100\]"):
        threshold.percentile_threshold(np.ones(3), 101)
    with pytest.raises(ValueError, match="at least one anomaly"):
        threshold.best_f1_threshold(np.ones(3), np.zeros(3))
