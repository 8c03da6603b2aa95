"""Synthetic long-range memory tasks for recurrent networks (numpy, deterministic by seed).

The adding problem (Hochreiter & Schmidhuber, 1997, experiment 4): each step carries two channels,
a value uniform in [0, 1) and a marker that is 1 at exactly two steps and 0 elsewhere; the target is
the sum of the two marked values, read once after the last step. Placement follows the common
modern form (Le et al., 2015; Arjovsky et al., 2016) rather than the paper's (first marker in the
first 10 steps): the first marker is uniform in the first half, steps [0, T // 2), the second
uniform in the second half, [T // 2, T), so the network must hold a value for about T / 2 steps on
average. Predicting the mean (1.0) scores MSE 1/6 ~ 0.167, the variance of the sum of two U(0, 1).

  x  float32 [N, T, 2]   (value, marker) at each step
  y  float32 [N]         sum of the two marked values (exactly, in float32)

The copy task (Hochreiter & Schmidhuber, 1997; Arjovsky et al., 2016): `num_copy` symbols from
1..num_symbols, then `delay` blanks (0), a delimiter (num_symbols + 1) and num_copy - 1 more blanks;
the target is blanks until the delimiter, then the symbols in order.

  tokens  int32 [N, num_copy + delay + num_copy]
  target  int32 [N, num_copy + delay + num_copy]

`seed` is anything `np.random.default_rng` takes: an int or a tuple of ints (a run's seed, the
length, the chunk index) so that every batch of every run is reproducible.
"""

import numpy as np


def adding_problem(size: int, length: int, *, seed=0) -> dict[str, np.ndarray]:
    """`size` adding-problem sequences of `length` steps (see the module docstring for shapes)."""
    if length < 2:
        raise ValueError(
            f"The adding problem needs length >= 2 to place two markers, got {length}."
        )
    if size < 1:
        raise ValueError(f"The adding problem needs size >= 1 sequences, got {size}.")
    rng = np.random.default_rng(seed)
    values = rng.random((size, length), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, size=size)
    second = rng.integers(half, length, size=size)
    markers = np.zeros((size, length), np.float32)
    rows = np.arange(size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return {"x": np.stack([values, markers], axis=-1), "y": y.astype(np.float32)}


def copy_task(size: int, num_copy: int, delay: int, *, num_symbols: int = 8, seed=0):
    """`size` copy-task sequences (see the module docstring for shapes): tokens, target."""
    if num_copy < 1 or delay < 0 or num_symbols < 1:
        raise ValueError(
            f"The copy task needs num_copy >= 1, delay >= 0 and num_symbols >= 1, got "
            f"num_copy={num_copy}, delay={delay}, num_symbols={num_symbols}."
        )
    rng = np.random.default_rng(seed)
    symbols = rng.integers(1, num_symbols + 1, size=(size, num_copy), dtype=np.int32)
    length = 2 * num_copy + delay
    tokens = np.zeros((size, length), np.int32)
    tokens[:, :num_copy] = symbols
    tokens[:, num_copy + delay] = num_symbols + 1
    target = np.zeros((size, length), np.int32)
    target[:, num_copy + delay :] = symbols
    return {"tokens": tokens, "target": target}
