"""Sliding windows over a series and per-point scores from per-window errors.

A window of length L starting at s covers points s .. s + L - 1. Starts are 0, stride, 2 * stride,
... and, when the stride does not reach the end exactly, one more window ending at the last point,
so every point is covered by at least one window.
"""

import numpy as np


def window_starts(num_points: int, length: int, stride: int = 1) -> np.ndarray:
    """Start indices of the windows of `length` over `num_points` points. Shape: int64 [N].

    The last window ends at the last point (an extra start is appended if the stride skips it).
    """
    if length < 1 or stride < 1:
        raise ValueError(
            f"window length={length} and stride={stride} must be positive; pass e.g. 64 and 1."
        )
    if num_points < length:
        raise ValueError(
            f"The series has {num_points} points, shorter than one window of {length}; use a "
            "shorter window (--config.data.window) or a longer series."
        )
    starts = np.arange(0, num_points - length + 1, stride)
    if starts[-1] != num_points - length:
        starts = np.append(starts, num_points - length)
    return starts


def sliding_windows(series: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Windows of `series` at `window_starts`. Shapes: series [T, C] -> windows [N, L, C] (copy)."""
    series = np.asarray(series)
    if series.ndim != 2:
        raise ValueError(f"series must be [T, C], got shape {series.shape}; add a channel axis.")
    starts = window_starts(len(series), length, stride)
    return series[starts[:, None] + np.arange(length)[None, :]]


def point_scores(window_errors: np.ndarray, starts: np.ndarray, num_points: int) -> np.ndarray:
    """Each point's error averaged over the windows covering it.

    Shapes: window_errors [N, L] (the error at each position of each window, e.g. squared error
    averaged over channels), starts int [N] -> scores float64 [num_points]. A point covered by no
    window is an error (use `window_starts`, which covers all points).
    """
    window_errors = np.asarray(window_errors, np.float64)
    starts = np.asarray(starts)
    if window_errors.ndim != 2 or len(window_errors) != len(starts):
        raise ValueError(
            f"window_errors must be [N, L] with N = len(starts) = {len(starts)}, got shape "
            f"{window_errors.shape}; pass one row of errors per window."
        )
    length = window_errors.shape[1]
    index = (starts[:, None] + np.arange(length)[None, :]).ravel()
    total = np.bincount(index, weights=window_errors.ravel(), minlength=num_points)
    count = np.bincount(index, minlength=num_points)
    if len(total) != num_points or np.any(count == 0):
        raise ValueError(
            f"The windows must cover every one of the {num_points} points exactly once or more; "
            "build starts with window_starts(num_points, L, stride)."
        )
    return total / count
