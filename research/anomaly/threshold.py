"""Thresholds calibrated on held-out normal data, and flagged points as ranges.

A point is anomalous when its score is strictly above the threshold.
"""

import numpy as np


def percentile_threshold(calibration_scores: np.ndarray, percentile: float) -> float:
    """The `percentile` (0..100) of the scores of held-out normal points (linear interpolation)."""
    scores = np.asarray(calibration_scores, np.float64)
    if scores.size == 0:
        raise ValueError(
            "No calibration scores: the held-out normal part is empty; raise "
            "--config.threshold.calibration_fraction or the train split."
        )
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile={percentile} must be in [0, 100]; pass e.g. 99.")
    return float(np.percentile(scores, percentile))


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the best point-wise F1 on labelled validation points.

    Candidates are the midpoints between consecutive distinct scores (and one below the minimum);
    ties in F1 go to the highest threshold. Shapes: scores [T], labels 0/1 [T].
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels).astype(bool)
    if scores.shape != labels.shape or not labels.any():
        raise ValueError(
            "best-F1 calibration needs validation labels of the scores' shape with at least one "
            "anomaly; use --config.threshold.method=percentile instead."
        )
    distinct = np.unique(scores)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2])
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    best, best_f1 = candidates[-1], -1.0
    for c in candidates[::-1]:
        k = np.searchsorted(-sorted_scores, -c, side="left")  # number of scores > c
        tp = sorted_labels[:k].sum()
        f1 = 2 * tp / (k + labels.sum()) if k else 0.0
        if f1 > best_f1:
            best, best_f1 = c, f1
    return float(best)


def flag(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean [T]: score > threshold."""
    return np.asarray(scores) > threshold


def to_ranges(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a boolean [T] as inclusive (begin, end) index pairs, in order."""
    mask = np.asarray(mask).astype(bool)
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(b), int(e) - 1) for b, e in zip(edges[::2], edges[1::2], strict=True)]
