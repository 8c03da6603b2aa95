"""Tests for research/anomaly/detection.py: the split, calibration, and that only test points
count."""

import numpy as np
import pytest

from research.anomaly import detection


def test_calibration_start_holds_out_the_tail_of_at_least_one_window():
    assert detection.calibration_start(100, 0.2, 10) == 80
    assert detection.calibration_start(100, 0.05, 10) == 90  # at least one window
    with pytest.raises(ValueError, match="too short to fit on one window"):
        detection.calibration_start(15, 0.2, 10)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\)"):
        detection.calibration_start(100, 1.0, 10)


def test_detect_flags_only_the_test_part_and_scores_it():
    scores = np.array([9.0, 0.0, 0.1, 0.2, 0.0, 5.0, 6.0, 0.0, 0.0, 4.0])
    labels = np.array([1, 0, 0, 0, 0, 1, 1, 1, 0, 0])
    found = detection.detect(scores, labels, train_end=4, thresh=1.0)
    assert found.top1 == 6  # the 9.0 in the train part is ignored
    assert found.ranges == [(5, 6), (9, 9)]
    # Test part: predicted {5, 6, 9}, labelled {5, 6, 7}: P = R = 2/3; one range, hit.
    assert found.metrics == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "range_recall": 1.0, "ucr_hit": 1.0}
    )
    assert detection.detect(scores, None, 4, 1.0).metrics is None


def test_calibrate_percentile_reads_only_the_held_out_part():
    scores = np.array([100.0, 100.0, 1.0, 2.0, 3.0, 100.0])
    assert detection.calibrate(scores, None, 2, 5, "percentile", 50) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="needs labels"):
        detection.calibrate(scores, None, 2, 5, "best_f1", 50)
    with pytest.raises(ValueError, match="must be one of"):
        detection.calibrate(scores, None, 2, 5, "max", 50)
