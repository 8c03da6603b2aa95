"""From per-point scores to a detection: calibrate the threshold, flag the test part, evaluate.

The series splits into fit [0, calibration_start), calibration [calibration_start, train_end)
(held-out normal data: never fit on) and test [train_end, T). Only test points are flagged and
evaluated.
"""

import dataclasses

import numpy as np

from research.anomaly import metrics, threshold

METHODS = ("percentile", "best_f1")


def calibration_start(train_end: int, fraction: float, window: int) -> int:
    """First calibration point: the last `fraction` of the train part, at least one window long,
    leaving at least one window to fit on."""
    if not 0 < fraction < 1:
        raise ValueError(
            f"calibration_fraction={fraction} must be in (0, 1); pass e.g. 0.2 to hold out the "
            "last fifth of the train part."
        )
    held = max(int(round(fraction * train_end)), window)
    if train_end - held < window:
        raise ValueError(
            f"train_end={train_end} is too short to fit on one window of {window} and hold out "
            f"{held} points for calibration; train on more points or use a shorter window."
        )
    return train_end - held


def calibrate(scores, labels, start: int, train_end: int, method: str, percentile: float):
    """The threshold from the calibration part's scores (and its labels for 'best_f1')."""
    if method == "percentile":
        return threshold.percentile_threshold(scores[start:train_end], percentile)
    if method == "best_f1":
        if labels is None:
            raise ValueError(
                "threshold.method='best_f1' needs labels (--config.data.label_column); use "
                "'percentile' for unlabelled data."
            )
        return threshold.best_f1_threshold(scores[start:train_end], labels[start:train_end])
    raise ValueError(f"threshold.method={method!r} must be one of {METHODS}.")


@dataclasses.dataclass
class Detection:
    """A method's result on one series; indices are 0-based into the series."""

    threshold: float
    top1: int
    ranges: list[tuple[int, int]]
    metrics: dict[str, float] | None  # None without labels


def detect(scores, labels, train_end: int, thresh: float) -> Detection:
    """Flags test points with score > thresh and, with labels, scores the test part.

    Shapes: scores [T], labels 0/1 [T] or None. Metrics: point precision / recall / F1, range
    recall, and ucr_hit (1.0 when the top test score lies within +-100 points of a labelled range).
    """
    scores = np.asarray(scores, np.float64)
    mask = threshold.flag(scores, thresh)
    mask[:train_end] = False
    ranges = threshold.to_ranges(mask)
    top1 = metrics.top1_location(scores, train_end)
    found = None
    if labels is not None:
        labels = np.asarray(labels).copy()
        labels[:train_end] = 0
        label_ranges = threshold.to_ranges(labels)
        found = metrics.point_prf(mask[train_end:], labels[train_end:])
        found["range_recall"] = metrics.range_recall(mask, label_ranges)
        found["ucr_hit"] = float(any(metrics.ucr_hit(top1, r) for r in label_ranges))
    return Detection(float(thresh), top1, ranges, found)
