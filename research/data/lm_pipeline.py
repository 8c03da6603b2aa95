"""Language-model batches from one token stream: shuffled training windows and exact eval windows.

Training: epoch e starts its windows at a seeded offset o_e in [0, seq_len) (so window boundaries
move between epochs) and cuts W = len(tokens) // seq_len - 1 windows of seq_len + 1 tokens,
window j = tokens[o_e + j * seq_len : o_e + (j + 1) * seq_len + 1]; W is the same for every offset,
so steps map to epochs by division. Window order is the epoch permutation of `array_pipeline`, so
the iterator is random access, checkpointable and identical across process counts in the same way.

Evaluation: windows of stride seq_len cover every target tokens[1:] exactly once; padding carries
weight 0, so summed losses over the batches divided by summed weights is the exact stream mean.
"""

import numpy as np

from research.data import array_pipeline

# Third entropy word of the epoch RNG, so offsets are independent of the permutation stream.
_OFFSET_STREAM = 1


def check_tokens(tokens: np.ndarray, vocab_size: int) -> None:
    """Raise ValueError naming the first id outside [0, vocab_size) and its position."""
    bad = np.flatnonzero((tokens < 0) | (tokens >= vocab_size))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"token id {int(tokens[i])} at position {i} is outside [0, vocab_size={vocab_size}); "
            "encode the data with the model's tokenizer or raise vocab_size."
        )


def _as_stream(tokens, vocab_size: int) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(
            f"tokens must be a 1-D integer array, got dtype {tokens.dtype} and shape "
            f"{tokens.shape}; concatenate documents into one stream (ByteTokenizer.encode_documents)."
        )
    check_tokens(tokens, vocab_size)  # before the cast, which could wrap large ids into range
    return tokens.astype(np.int32, copy=False)


def epoch_offset(seed: int, epoch: int, seq_len: int) -> int:
    """Start of the first training window in `epoch`, in [0, seq_len), from (seed, epoch)."""
    return int(np.random.default_rng([seed, epoch, _OFFSET_STREAM]).integers(seq_len))


def train_iterator(
    tokens: np.ndarray,
    *,
    seq_len: int,
    global_batch_size: int,
    seed: int,
    vocab_size: int,
    process_index: int = 0,
    process_count: int = 1,
):
    """Endless shuffled next-token batches for this process, as a checkpointable grain iterator.

    Shapes: tokens int [L] -> each batch {'inputs', 'targets'}: int32 [b, seq_len], b =
    global_batch_size // process_count, targets[:, t] == inputs[:, t + 1]. Save `it.get_state()`
    (JSON) and call `set_state` on an iterator built with the same arguments to continue exactly.
    """
    tokens = _as_stream(tokens, vocab_size)
    b = array_pipeline.local_batch_size(global_batch_size, process_index, process_count)
    array_pipeline.check_seed(seed)
    if seq_len < 1:
        raise ValueError(f"seq_len={seq_len} must be positive; pass e.g. seq_len=256.")
    num_windows = len(tokens) // seq_len - 1
    if num_windows < global_batch_size:
        raise ValueError(
            f"{len(tokens)} tokens make {max(num_windows, 0)} windows of seq_len={seq_len} + 1, "
            f"fewer than global_batch_size={global_batch_size}; lower seq_len or "
            "global_batch_size, or supply more tokens."
        )
    positions = np.arange(seq_len + 1)

    def batch_at(step: int) -> dict[str, np.ndarray]:
        epoch, rows = array_pipeline.epoch_rows(
            step, num_examples=num_windows, global_batch_size=global_batch_size, seed=seed
        )
        rows = rows[process_index * b : (process_index + 1) * b]
        starts = epoch_offset(seed, epoch, seq_len) + rows * seq_len
        windows = tokens[starts[:, None] + positions]  # [b, seq_len + 1]
        return {"inputs": windows[:, :-1], "targets": windows[:, 1:]}

    return array_pipeline.iterate_steps(batch_at)


def eval_batches(
    tokens: np.ndarray, *, seq_len: int, batch_size: int, vocab_size: int
) -> list[dict[str, np.ndarray]]:
    """Every target tokens[1:] exactly once, in order, in padded batches.

    Shapes: tokens int [L] -> batches {'inputs', 'targets': int32 [batch_size, seq_len],
    'weights': float32 [batch_size, seq_len]}; window i = tokens[i * seq_len : (i + 1) * seq_len + 1],
    the last one zero-padded, and whole zero-weight rows fill the last batch; sum(weights) == L - 1.
    """
    tokens = _as_stream(tokens, vocab_size)
    if len(tokens) < 2:
        raise ValueError(
            f"an evaluation stream needs at least 2 tokens (one target), got {len(tokens)}; "
            "supply a longer evaluation split."
        )
    if seq_len < 1 or batch_size < 1:
        raise ValueError(
            f"seq_len={seq_len} and batch_size={batch_size} must be positive; pass e.g. 256 and 8."
        )
    num_windows = -(-(len(tokens) - 1) // seq_len)
    num_rows = -(-num_windows // batch_size) * batch_size
    # Windows of stride seq_len tile the stream, so inputs and targets are reshapes of one copy.
    padded = np.zeros(num_rows * seq_len + 1, np.int32)
    padded[: len(tokens)] = tokens
    weights = np.zeros(num_rows * seq_len, np.float32)
    weights[: len(tokens) - 1] = 1.0
    inputs = padded[:-1].reshape(num_rows, seq_len)
    targets = padded[1:].reshape(num_rows, seq_len)
    weights = weights.reshape(num_rows, seq_len)
    return [
        {
            "inputs": inputs[i : i + batch_size],
            "targets": targets[i : i + batch_size],
            "weights": weights[i : i + batch_size],
        }
        for i in range(0, num_rows, batch_size)
    ]
