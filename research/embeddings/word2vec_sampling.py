"""word2vec's three sampling rules, as the original C code and gensim apply them (numpy, host side).

- Frequent-word subsampling (Mikolov et al. 2013, as word2vec.c and gensim compute it): word w with
  count c_w, t = sample * (total count), is kept with probability
  min(1, (sqrt(c_w / t) + 1) * t / c_w); `sample=0` keeps every word.
- The negative-sampling distribution: P(w) proportional to c_w ** 0.75 (`ns_exponent`), held as a
  cumulative table that `research.embeddings.negative_sampling.sample_negatives` searches.
- The dynamic window: each center word's window is drawn uniformly from 1..window (word2vec.c's
  `b = next_random % window`, effective window = window - b).
"""

import numpy as np


def _check_counts(counts) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size == 0 or not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(
            f"counts must be a non-empty 1-D integer array, got dtype {counts.dtype} and shape "
            f"{counts.shape}; pass Vocabulary.counts."
        )
    if counts.min() < 1:
        raise ValueError(
            f"counts must be >= 1, got a minimum of {counts.min()}; pass Vocabulary.counts."
        )
    return counts.astype(np.float64)


def keep_probabilities(counts, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of word i: float64 [V] in (0, 1].

    counts int [V] (the vocabulary's counts); `sample` the threshold t as a fraction of all words
    (word2vec's -sample, gensim's `sample`; 1e-3 by default there); 0 disables subsampling.
    """
    c = _check_counts(counts)
    if not (sample >= 0 and np.isfinite(sample)):
        raise ValueError(f"sample={sample!r} must be a finite number >= 0; pass e.g. 1e-3 or 0.")
    if sample == 0:
        return np.ones_like(c)
    threshold = sample * c.sum()
    return np.minimum((np.sqrt(c / threshold) + 1.0) * threshold / c, 1.0)


def unigram_table(counts, power: float = 0.75) -> np.ndarray:
    """Cumulative negative-sampling distribution: float32 [V], increasing, last entry 1.

    Entry i is sum_{j <= i} c_j ** power / sum_j c_j ** power; word i is drawn when a uniform draw
    u satisfies table[i-1] <= u < table[i] (gensim's `cum_table`, normalized to 1).
    """
    c = _check_counts(counts)
    weights = c**power
    table = np.cumsum(weights) / weights.sum()
    table[-1] = 1.0  # exact, so a uniform draw in [0, 1) always lands inside the table
    return table.astype(np.float32)


def subsample(rng: np.random.Generator, ids: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The ids [n] that survive subsampling, in order: id w kept when a uniform draw < keep[w]."""
    return ids[rng.random(len(ids)) < keep[ids]]


def reduced_windows(rng: np.random.Generator, n: int, window: int) -> np.ndarray:
    """Effective window of each of n center words: int64 [n], uniform on 1..window."""
    if window < 1:
        raise ValueError(f"window={window} must be >= 1; pass e.g. window=5.")
    return window - rng.integers(0, window, size=n)
