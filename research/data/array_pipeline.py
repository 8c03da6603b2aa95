"""Shuffled, infinite, checkpointable batches of in-memory arrays (grain), and padded eval batches.

Training batches are random access: global step s lies in epoch s // batches_per_epoch, and its rows
are a slice of that epoch's permutation, drawn from (seed, epoch) alone. A grain `MapDataset`
(step -> batch) turned into an iterator therefore has a tiny state, `{'next_index': s}`, which is
JSON and restores exactly on a freshly built iterator. The global batch of a step does not depend on
the number of processes; process p takes rows [p * b, (p + 1) * b) of it, b = global / count.

`epoch_rows`, `local_batch_size` and `iterate_steps` are the shared part: the language-model pipeline
(`lm_pipeline`) uses them with windows of a token stream in place of examples.
"""

import functools
import sys

import grain
import numpy as np

# Batches are cheap to build (one gather), so a couple of threads and a short queue keep up; grain's
# default (16 threads, 500 batches ahead) would hold hundreds of batches in memory for no gain.
READ_OPTIONS = grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)


@functools.lru_cache(maxsize=4)
def _epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    # Cached because every step of an epoch slices the same permutation.
    perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
    perm.flags.writeable = False
    return perm


def epoch_rows(
    step: int, *, num_examples: int, global_batch_size: int, seed: int
) -> tuple[int, np.ndarray]:
    """Epoch of global batch `step` and the example ids in it (each epoch drops its remainder).

    Shape: rows int64 [global_batch_size], distinct within an epoch; an epoch is a fresh
    permutation of range(num_examples) seeded by (seed, epoch).
    """
    epoch, k = divmod(step, num_examples // global_batch_size)
    perm = _epoch_permutation(seed, epoch, num_examples)
    return epoch, perm[k * global_batch_size : (k + 1) * global_batch_size]


def local_batch_size(global_batch_size: int, process_index: int, process_count: int) -> int:
    """Rows per process, b = global_batch_size // process_count, after checking the arguments."""
    if global_batch_size < 1 or global_batch_size % process_count:
        raise ValueError(
            f"global_batch_size={global_batch_size} must be a positive multiple of "
            f"process_count={process_count}; choose a batch size divisible by the process count."
        )
    if not 0 <= process_index < process_count:
        raise ValueError(
            f"process_index={process_index} must be in [0, process_count={process_count}); pass "
            "jax.process_index() and jax.process_count()."
        )
    return global_batch_size // process_count


def check_seed(seed: int) -> None:
    """Raise ValueError unless `seed` is a non-negative int (numpy's SeedSequence needs one)."""
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer; pass e.g. seed=0.")


def iterate_steps(batch_at):
    """grain iterator over batch_at(0), batch_at(1), ... forever; get_state() == {'next_index': s}."""
    steps = grain.MapDataset.range(sys.maxsize).map(batch_at)
    return iter(steps.to_iter_dataset(READ_OPTIONS))


def _num_examples(arrays: dict[str, np.ndarray]) -> int:
    sizes = {key: len(value) for key, value in arrays.items()}
    if not sizes or len(set(sizes.values())) != 1:
        raise ValueError(
            f"arrays must be a non-empty dict of arrays with one leading size, got sizes {sizes}; "
            "pass arrays that hold the same examples along axis 0."
        )
    return next(iter(sizes.values()))


def train_iterator(
    arrays: dict[str, np.ndarray],
    *,
    global_batch_size: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
):
    """Endless shuffled batches of this process's rows, as a checkpointable grain iterator.

    Shapes: arrays {key: [N, ...]} -> each batch {key: [b, ...]}, b = global_batch_size //
    process_count. Save `it.get_state()` (JSON) and call `set_state` on an iterator built with the
    same arguments to continue exactly.
    """
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    num_examples = _num_examples(arrays)
    b = local_batch_size(global_batch_size, process_index, process_count)
    check_seed(seed)
    if num_examples < global_batch_size:
        raise ValueError(
            f"{num_examples} examples cannot fill one global batch of {global_batch_size}; "
            "lower global_batch_size or supply more examples."
        )

    def batch_at(step: int) -> dict[str, np.ndarray]:
        _, rows = epoch_rows(
            step, num_examples=num_examples, global_batch_size=global_batch_size, seed=seed
        )
        rows = rows[process_index * b : (process_index + 1) * b]
        return {key: value[rows] for key, value in arrays.items()}

    return iterate_steps(batch_at)


def eval_batches(arrays: dict[str, np.ndarray], *, batch_size: int) -> list[dict[str, np.ndarray]]:
    """Every example once, in order, in batches of `batch_size`; the last is padded with zero rows.

    Shapes: arrays {key: [N, ...]} -> batches {key: [batch_size, ...], 'weights': float32
    [batch_size]} with weight 1 on real rows and 0 on padding, so sum(weights) == N.
    """
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    num_examples = _num_examples(arrays)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be positive; pass e.g. batch_size=128.")
    if "weights" in arrays:
        raise ValueError("arrays has a 'weights' key, which eval_batches adds; rename that key.")
    batches = []
    for start in range(0, num_examples, batch_size):
        stop = min(start + batch_size, num_examples)
        batch = {}
        for key, value in arrays.items():
            padded = np.zeros((batch_size,) + value.shape[1:], value.dtype)
            padded[: stop - start] = value[start:stop]
            batch[key] = padded
        batch["weights"] = (np.arange(batch_size) < stop - start).astype(np.float32)
        batches.append(batch)
    return batches
