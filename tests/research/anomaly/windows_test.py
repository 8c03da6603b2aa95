"""Tests for research/anomaly/windows.py: window positions, coverage, and scores that line up with
the series."""

import numpy as np
import pytest

from research.anomaly import windows


def test_starts_cover_the_end_even_when_the_stride_skips_it():
    assert windows.window_starts(10, 4, 1).tolist() == list(range(7))
    assert windows.window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert windows.window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]  # 7 + 4 = 11 reaches the end
    assert windows.window_starts(4, 4, 2).tolist() == [0]


def test_sliding_windows_hold_the_series_values():
    x = np.arange(12.0).reshape(6, 2)
    w = windows.sliding_windows(x, 3, 2)
    assert w.shape == (3, 3, 2)  # starts 0, 2, 3
    np.testing.assert_array_equal(w[1], x[2:5])
    np.testing.assert_array_equal(w[2], x[3:6])


def test_point_scores_average_over_covering_windows_by_hand():
    # 5 points, windows of 3 at starts 0, 1, 2; errors chosen so each average is easy to check.
    errors = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])
    scores = windows.point_scores(errors, np.array([0, 1, 2]), 5)
    want = [1.0, (2 + 10) / 2, (3 + 20 + 100) / 3, (30 + 200) / 2, 300.0]
    np.testing.assert_allclose(scores, want)


def test_a_spike_at_t_moves_the_score_at_t_most():
    # Bug caught: an off-by-one between window positions and series indices (scores shifted).
    x = np.zeros((50, 1))
    for t in (0, 17, 49):
        spiked = x.copy()
        spiked[t] = 5.0
        starts = windows.window_starts(50, 8, 1)
        wins = windows.sliding_windows(spiked, 8, 1)
        errors = np.mean(wins**2, axis=-1)  # a "model" reconstructing zeros
        scores = windows.point_scores(errors, starts, 50)
        assert np.argmax(scores) == t
        assert np.count_nonzero(scores) == 1


def test_bad_inputs_are_refused_with_one_sentence():
    with pytest.raises(ValueError, match="shorter than one window of 8"):
        windows.window_starts(5, 8)
    with pytest.raises(ValueError, match="must be positive"):
        windows.window_starts(5, 2, 0)
    with pytest.raises(ValueError, match=r"must be \[T, C\]"):
        windows.sliding_windows(np.zeros(5), 2)
    with pytest.raises(ValueError, match="cover every one of the 6 points"):
        windows.point_scores(np.ones((1, 3)), np.array([0]), 6)
