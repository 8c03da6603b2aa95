"""Detection metrics: point-wise precision/recall/F1, range-based recall and the UCR rule.

Ranges are inclusive (begin, end) index pairs, as `threshold.to_ranges` returns them.
"""

import numpy as np

UCR_MARGIN = 100  # the UCR Anomaly Archive's tolerance, in points, on each side of the range


def point_prf(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Point-wise precision, recall and F1 of boolean predictions [T] against 0/1 labels [T].

    Precision is 0 when nothing is predicted, recall 0 when nothing is labelled, F1 0 when both
    precision and recall are 0.
    """
    predicted = np.asarray(predicted).astype(bool)
    labels = np.asarray(labels).astype(bool)
    if predicted.shape != labels.shape:
        raise ValueError(
            f"predictions {predicted.shape} and labels {labels.shape} differ in shape; pass one "
            "label per point."
        )
    tp = float(np.sum(predicted & labels))
    precision = tp / predicted.sum() if predicted.any() else 0.0
    recall = tp / labels.sum() if labels.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def range_recall(predicted: np.ndarray, label_ranges: list[tuple[int, int]]) -> float:
    """Fraction of labelled ranges with at least one predicted point inside (0.0 for no ranges)."""
    predicted = np.asarray(predicted).astype(bool)
    if not label_ranges:
        return 0.0
    hits = [predicted[b : e + 1].any() for b, e in label_ranges]
    return float(np.mean(hits))


def ucr_hit(top1: int, label_range: tuple[int, int], margin: int = UCR_MARGIN) -> bool:
    """The UCR rule: the top-scoring location lies within [begin - margin, end + margin]."""
    begin, end = label_range
    return begin - margin <= top1 <= end + margin


def top1_location(scores: np.ndarray, start: int = 0) -> int:
    """Index of the highest score at or after `start` (the test part); the first one on ties."""
    scores = np.asarray(scores)
    return int(start + np.argmax(scores[start:]))
