"""FastText's character n-grams (Bojanowski et al. 2017) hashed into buckets, bucket for bucket
as gensim (and Facebook's fastText) compute them.

A word w is wrapped as '<w>'; its n-grams are the runs of min_n..max_n characters (UTF-8 code points,
never split inside one) of the wrapped word, except a lone '<' or '>'. Ordered by start position,
then length (gensim's `compute_ngrams_bytes`). Each n-gram's UTF-8 bytes are hashed with 32-bit
FNV-1a, each byte sign-extended first (`uint32(int8(byte))`, the C `char` of fastText's
`dictionary.cc`, which gensim's `ft_hash_bytes` reproduces), and taken modulo the bucket count.
"""

from collections.abc import Sequence

import numpy as np

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619


def ft_hash(data: bytes) -> int:
    """fastText's FNV-1a 32-bit hash of `data` (bytes >= 0x80 sign-extended), an int in [0, 2^32)."""
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte if byte < 0x80 else byte | 0xFFFFFF00
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, min_n: int, max_n: int) -> list[bytes]:
    """The UTF-8 n-grams of '<word>' with min_n..max_n characters, in gensim's order."""
    if min_n < 1 or max_n < min_n:
        raise ValueError(
            f"min_n={min_n} and max_n={max_n} must satisfy 1 <= min_n <= max_n; pass e.g. 3 and 6."
        )
    wrapped = f"<{word}>"
    encoded = [ch.encode("utf-8") for ch in wrapped]
    ngrams = []
    for i in range(len(encoded)):
        for n in range(min_n, min(max_n, len(encoded) - i) + 1):
            if n == 1 and (i == 0 or i == len(encoded) - 1):
                continue
            ngrams.append(b"".join(encoded[i : i + n]))
    return ngrams


def ngram_buckets(word: str, min_n: int, max_n: int, num_buckets: int) -> list[int]:
    """Bucket ids of the word's n-grams (gensim's `ft_ngram_hashes`), one per n-gram, repeats kept."""
    if num_buckets < 1:
        raise ValueError(f"num_buckets={num_buckets} must be >= 1; pass e.g. 2_000_000.")
    return [ft_hash(ngram) % num_buckets for ngram in char_ngrams(word, min_n, max_n)]


def bucket_table(
    words: Sequence[str], min_n: int, max_n: int, num_buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids int32 [V, M], mask float32 [V, M]): each word's n-gram buckets, padded to the longest.

    Shape: ids [V, M], M = the most n-grams of any word (at least 1); padded slots hold bucket 0
    with mask 0, so a word's n-gram sum is sum(mask * rows[ids]).
    """
    buckets = [ngram_buckets(w, min_n, max_n, num_buckets) for w in words]
    width = max([len(b) for b in buckets] + [1])
    ids = np.zeros((len(words), width), np.int32)
    mask = np.zeros((len(words), width), np.float32)
    for i, b in enumerate(buckets):
        ids[i, : len(b)] = b
        mask[i, : len(b)] = 1.0
    return ids, mask


def compact_buckets(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows int32 [V, M], used int64 [R]): `bucket_table` ids renumbered to rows of a table that
    holds only the R distinct buckets in use; used[rows[i, j]] == ids[i, j] where mask is 1
    (padded slots: row 0). `used` is sorted, so a bucket's row is `np.searchsorted(used, bucket)`.
    """
    used = np.unique(ids[mask > 0])
    rows = np.where(mask > 0, np.searchsorted(used, ids), 0)
    return rows.astype(np.int32), used
