"""Tests for research/anomaly/zscore.py against a direct loop."""

import numpy as np
import pytest

from research.anomaly import zscore


def test_rolling_zscore_equals_a_loop_over_trailing_windows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)) * [1.0, 3.0] + [0.0, 100.0]
    got = zscore.rolling_zscore(x, 5)
    want = np.zeros(40)
    for t in range(5, 40):
        past = x[t - 5 : t]
        want[t] = np.max(np.abs(x[t] - past.mean(0)) / past.std(0))
    np.testing.assert_allclose(got, want, rtol=1e-7)  # cumulative sums: observed 1e-10


def test_spike_scores_highest_and_window_checked():
    x = np.sin(np.arange(100) / 3.0)[:, None]
    x[70] += 10
    assert np.argmax(zscore.rolling_zscore(x, 10)) == 70
    with pytest.raises(ValueError, match="must be in"):
        zscore.rolling_zscore(x, 100)
