"""Tests for research/anomaly/metrics.py, every number computed by hand."""

import numpy as np
import pytest

from research.anomaly import metrics


def test_point_precision_recall_f1_by_hand():
    predicted = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)
    labels = np.array([1, 0, 0, 1, 1, 1, 0, 0])
    # tp = 2 (points 0, 4), predicted 3, labelled 4: P = 2/3, R = 1/2, F1 = 2PR/(P+R) = 4/7.
    got = metrics.point_prf(predicted, labels)
    assert got == pytest.approx({"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7})


def test_point_metrics_are_zero_without_predictions_or_labels():
    assert metrics.point_prf(np.zeros(3, bool), np.array([0, 1, 0])) == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0,
    }  # fmt: skip
    assert metrics.point_prf(np.ones(3, bool), np.zeros(3))["f1"] == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.point_prf(np.ones(3, bool), np.zeros(4))


def test_range_recall_counts_ranges_hit_once_or_more():
    predicted = np.zeros(30, bool)
    predicted[[3, 4, 20]] = True
    ranges = [(0, 5), (10, 15), (20, 20)]
    assert metrics.range_recall(predicted, ranges) == pytest.approx(2 / 3)
    assert metrics.range_recall(predicted, [(6, 9)]) == 0.0
    assert metrics.range_recall(predicted, []) == 0.0


def test_ucr_rule_allows_100_points_either_side_inclusive():
    assert metrics.ucr_hit(1000, (1000, 1050))
    assert metrics.ucr_hit(900, (1000, 1050)) and not metrics.ucr_hit(899, (1000, 1050))
    assert metrics.ucr_hit(1150, (1000, 1050)) and not metrics.ucr_hit(1151, (1000, 1050))
    assert metrics.ucr_hit(5, (10, 10), margin=5) and not metrics.ucr_hit(4, (10, 10), margin=5)


def test_top1_location_searches_only_from_start():
    scores = np.array([9.0, 1.0, 3.0, 3.0, 2.0])
    assert metrics.top1_location(scores) == 0
    assert metrics.top1_location(scores, start=1) == 2  # first of the tie
