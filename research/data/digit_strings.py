"""Synthetic sequence-to-sequence data: reverse a string of decimal digits ("0451" -> "1540").

Tokens: PAD 0, BOS 1 (the decoder's start token), EOS 2, digit d -> d + 3; VOCAB_SIZE 13.
A string has length n in [min_len, max_len] (uniform), its digits uniform. Arrays (numpy):

  source         int32 [N, max_len]      the digits, PAD after n
  source_lengths int32 [N]               n
  target         int32 [N, max_len + 1]  the digits reversed, then EOS, PAD after n + 1

Held-out strings never occur in training: a fixed hash of (n, digits) puts 1 string in
`HELD_OUT_EVERY` into the held-out pool, whatever the seed, so every training run of every seed
avoids the same strings. The held-out split holds distinct strings; training strings are drawn
with repetition from the rest (so short lengths, with few distinct strings, keep their share).
Everything is a function of (split, size, lengths, seed).
"""

import numpy as np

PAD, BOS, EOS = 0, 1, 2
DIGIT_OFFSET = 3
VOCAB_SIZE = DIGIT_OFFSET + 10
HELD_OUT_EVERY = 8
SPLITS = ("train", "held_out")


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a fixed, well-mixed hash of uint64 keys."""
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _keys(digits: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A distinct uint64 per string ("07" and "7" differ by length). Shapes: [N,L], [N] -> [N]."""
    powers = 10 ** np.arange(digits.shape[1], dtype=np.uint64)
    value = (digits.astype(np.uint64) * powers).sum(axis=1, dtype=np.uint64)
    return value * np.uint64(32) + lengths.astype(np.uint64)


def is_held_out(digits: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Whether each string belongs to the held-out pool. Shapes: digits int [N,L] (0-9, zero past
    the length), lengths int [N] -> bool [N]."""
    return _mix64(_keys(digits, lengths)) % np.uint64(HELD_OUT_EVERY) == 0


def _draw(rng, count: int, min_len: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(min_len, max_len + 1, size=count)
    digits = rng.integers(0, 10, size=(count, max_len))
    digits[np.arange(max_len)[None, :] >= lengths[:, None]] = 0
    return digits, lengths


def load_arrays(
    split: str, size: int, *, max_len: int, min_len: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """`size` examples of one split as padded arrays (see the module docstring for the shapes)."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {', '.join(SPLITS)}.")
    if not 1 <= min_len <= max_len <= 16:
        raise ValueError(
            f"Lengths need 1 <= min_len <= max_len <= 16, got min_len={min_len}, "
            f"max_len={max_len}; pick lengths in that range."
        )
    pool = sum(10**n for n in range(min_len, max_len + 1)) // HELD_OUT_EVERY
    if split == "held_out" and size > pool // 2:
        raise ValueError(
            f"{size} distinct held-out strings of lengths {min_len}..{max_len} are more than half "
            f"of the about {pool} there are; ask for fewer or allow longer strings."
        )
    # The splits use different streams of one seed; each keeps only strings of its own side.
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    digits, lengths, seen = [], [], set()
    have = 0
    while have < size:
        d, n = _draw(rng, max(2 * (size - have), 64), min_len, max_len)
        keep = is_held_out(d, n) == (split == "held_out")
        if split == "held_out":
            for i in np.flatnonzero(keep):  # distinct strings, in drawing order
                key = (int(n[i]), d[i].tobytes())
                keep[i] = key not in seen
                seen.add(key)
        d, n = d[keep][: size - have], n[keep][: size - have]
        digits.append(d)
        lengths.append(n)
        have += len(n)
    digits, lengths = np.concatenate(digits), np.concatenate(lengths)
    return make_arrays(digits, lengths)


def make_arrays(digits: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
    """The padded token arrays of given strings. Shapes: digits int [N,L] (0-9), lengths [N]."""
    n, max_len = digits.shape
    positions = np.arange(max_len)[None, :]
    real = positions < lengths[:, None]
    source = np.where(real, digits + DIGIT_OFFSET, PAD).astype(np.int32)
    # Reversed within each string's own length: target position t holds source position n-1-t.
    index = np.where(real, lengths[:, None] - 1 - positions, 0)
    reversed_ = np.where(real, np.take_along_axis(source, index, axis=1), PAD)
    target = np.concatenate([reversed_, np.full((n, 1), PAD)], axis=1).astype(np.int32)
    target[np.arange(n), lengths] = EOS
    return {"source": source, "source_lengths": lengths.astype(np.int32), "target": target}


def decode(tokens) -> str:
    """The digits of a token row up to the first EOS (or PAD); other tokens show as '?'."""
    out = []
    for t in np.asarray(tokens).tolist():
        if t in (EOS, PAD):
            break
        out.append(str(t - DIGIT_OFFSET) if DIGIT_OFFSET <= t < VOCAB_SIZE else "?")
    return "".join(out)
