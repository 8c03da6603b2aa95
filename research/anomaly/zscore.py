"""Rolling z-score: how far each point lies from the mean of the points just before it.

score[t] = max over channels of |x[t, c] - mean(x[t-w:t, c])| / std(x[t-w:t, c]), with the
population std over the `w` trailing points (floored at `eps`). The first `w` points have no full
history and score 0.
"""

import numpy as np


def rolling_zscore(series: np.ndarray, window: int, eps: float = 1e-8) -> np.ndarray:
    """Shapes: series [T, C] -> scores float64 [T]."""
    x = np.asarray(series, np.float64)
    if x.ndim != 2:
        raise ValueError(f"series must be [T, C], got shape {x.shape}; add a channel axis.")
    if not 2 <= window < len(x):
        raise ValueError(
            f"z-score window={window} must be in [2, {len(x)}) for a series of {len(x)} points; "
            "pass a smaller window."
        )
    c1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0)])
    c2 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x * x, 0)])
    t = np.arange(window, len(x))
    mean = (c1[t] - c1[t - window]) / window
    var = np.maximum((c2[t] - c2[t - window]) / window - mean**2, 0.0)
    z = np.abs(x[t] - mean) / np.maximum(np.sqrt(var), eps)
    scores = np.zeros(len(x))
    scores[window:] = z.max(axis=1)
    return scores
