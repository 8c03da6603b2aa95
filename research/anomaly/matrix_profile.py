"""The matrix profile (self-join) and its discords, written out in numpy.

For subsequences of length m, P[i] is the z-normalized Euclidean distance from subsequence i to its
nearest neighbour j outside the exclusion zone |i - j| <= ceil(m / 4) (stumpy's default), and I[i]
is that j. The subsequence with the largest P[i] is the top discord: the part of the series least
like anything else in it (Yeh et al., 2016; a strong classical detector on the UCR archive).

Distances come from sliding dot products: with means mu and stds sigma,
  d(i, j)^2 = 2 m (1 - (Q_i . T_j - m mu_i mu_j) / (m sigma_i sigma_j)),
computed in row blocks, O(n^2 m) work in all (a 100k-point UCR file takes minutes: drop the
baseline there with --config.baselines.methods=zscore,pca if that is too slow). A constant
subsequence (sigma = 0) is at distance 0 from another constant one and sqrt(m) from any other, as
in stumpy.
"""

import numpy as np

from research.anomaly.windows import point_scores

_BLOCK_ENTRIES = 1 << 22  # entries of the distance matrix held at once (32 MiB of float64)


def exclusion_zone(m: int) -> int:
    return int(np.ceil(m / 4))


def matrix_profile(x: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Self-join matrix profile. Shapes: x [T] -> (P float64 [T - m + 1], I int64 [T - m + 1])."""
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be one channel [T], got shape {x.shape}; run per channel.")
    n = len(x) - m + 1
    zone = exclusion_zone(m)
    if m < 3 or n < 2 * zone + 2:
        raise ValueError(
            f"Subsequence length m={m} must be >= 3 and leave neighbours outside the exclusion "
            f"zone in a series of {len(x)} points; use a smaller m or a longer series."
        )
    subs = np.lib.stride_tricks.sliding_window_view(x, m)
    mu = subs.mean(1)
    sigma = subs.std(1)
    constant = sigma < 1e-12 * max(1.0, np.abs(mu).max())
    safe_sigma = np.where(constant, 1.0, sigma)
    profile = np.empty(n)
    index = np.empty(n, np.int64)
    cols = np.arange(n)
    block = max(1, _BLOCK_ENTRIES // n)
    for a in range(0, n, block):
        rows = np.arange(a, min(a + block, n))
        qt = subs[rows] @ subs.T
        corr = (qt - m * mu[rows, None] * mu[None, :]) / (
            m * safe_sigma[rows, None] * safe_sigma[None, :]
        )
        d2 = 2 * m * (1 - np.clip(corr, -1.0, 1.0))
        both = constant[rows, None] & constant[None, :]
        one = constant[rows, None] ^ constant[None, :]
        d2 = np.where(both, 0.0, np.where(one, float(m), d2))
        d2[np.abs(rows[:, None] - cols[None, :]) <= zone] = np.inf
        index[rows] = np.argmin(d2, axis=1)
        profile[rows] = np.sqrt(np.maximum(d2[np.arange(len(rows)), index[rows]], 0.0))
    return profile, index


def discord_scores(series: np.ndarray, m: int) -> np.ndarray:
    """Per-point discord scores of a series [T, C] -> [T].

    Each channel's matrix profile, summed over channels, is spread over the points each subsequence
    covers and averaged there (as reconstruction errors are in `windows.point_scores`).
    """
    series = np.asarray(series, np.float64)
    if series.ndim != 2:
        raise ValueError(f"series must be [T, C], got shape {series.shape}; add a channel axis.")
    total = sum(matrix_profile(series[:, c], m)[0] for c in range(series.shape[1]))
    starts = np.arange(len(total))
    return point_scores(np.repeat(total[:, None], m, axis=1), starts, len(series))
