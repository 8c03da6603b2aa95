"""PCA reconstruction of windows: the linear autoencoder baseline.

Fit on training windows (flattened to L * C features): mean and the top-k principal directions
(SVD of the centred windows). A window's reconstruction is its projection onto those directions;
its per-position error (squared, averaged over channels) goes through `windows.point_scores` like
the autoencoder's.
"""

import numpy as np


def fit(train_windows: np.ndarray, num_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Shapes: train_windows [N, L, C] -> (mean [L*C], components [k, L*C], orthonormal rows)."""
    w = np.asarray(train_windows, np.float64)
    if w.ndim != 3:
        raise ValueError(f"train_windows must be [N, L, C], got shape {w.shape}.")
    flat = w.reshape(len(w), -1)
    if not 1 <= num_components <= min(flat.shape):
        raise ValueError(
            f"num_components={num_components} must be in [1, min(N, L*C) = {min(flat.shape)}]; "
            "pass fewer components or more training windows."
        )
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return mean, vt[:num_components]


def reconstruct(windows: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Shapes: windows [N, L, C] -> reconstructions [N, L, C] (float64)."""
    w = np.asarray(windows, np.float64)
    flat = w.reshape(len(w), -1) - mean
    return ((flat @ components.T) @ components + mean).reshape(w.shape)


def window_errors(windows: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Squared reconstruction error per position, averaged over channels. Shape: [N, L]."""
    w = np.asarray(windows, np.float64)
    return np.mean((reconstruct(w, mean, components) - w) ** 2, axis=-1)
