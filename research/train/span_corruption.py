"""T5's pre-training objective: span corruption (Raffel et al. 2020, section 3.1.4; t5.data's
`span_corruption` / `random_spans_noise_mask`).

A fraction `noise_density` (0.15) of each sequence's tokens, in spans of mean length
`mean_span_length` (3), is removed from the input; each removed span is replaced by one sentinel,
and the target lists the spans, each after its sentinel:

  original  The cute dog walks in the park
  inputs    The <X> walks in <Y> park </s>            (<X> = sentinel 0, <Y> = sentinel 1)
  targets   <X> cute dog <Y> the </s>

Layout (t5.data's, exactly): num_noise = round(length * noise_density) clipped to [1, length - 1],
num_spans = max(1, round(num_noise / mean_span_length)); the noise tokens and the kept tokens are
each cut into num_spans non-empty spans at random, and the spans alternate starting with kept
tokens. Every sequence of a given length therefore gives inputs and targets of fixed lengths
(`corrupted_lengths`), so batches need no padding.

Sentinel ids are an argument: `t5_sentinels(vocab_size, n)` is T5's choice (counting down from the
top of the vocabulary, <extra_id_0> = vocab_size - 1); `project_sentinels(n)` is this project's
special-token layout (`research/text/special_tokens.py`: ids 5, 6, ..., fixed whatever the
vocabulary size), which the project's tokenizers and the T5 experiment use.

The loss is cross-entropy on the targets (`loss`); the encoder reads `inputs`, the decoder the
targets shifted right (`research.models.t5.shift_right`). Corruption runs on the host in numpy
(a data transform with its own seeded generator), like t5.data's preprocessors.
"""

import numpy as np

from research.text import special_tokens
from research.train.losses import classification_loss

NOISE_DENSITY = 0.15
MEAN_SPAN_LENGTH = 3.0


def t5_sentinels(vocab_size: int, num_sentinels: int) -> np.ndarray:
    """T5's sentinel ids: span i gets vocab_size - 1 - i. Shape: int32 [num_sentinels]."""
    if not 0 < num_sentinels < vocab_size:
        raise ValueError(
            f"num_sentinels={num_sentinels} must lie in [1, vocab_size={vocab_size}); T5 takes "
            "its sentinels from the top of the vocabulary."
        )
    return vocab_size - 1 - np.arange(num_sentinels, dtype=np.int32)


def project_sentinels(num_sentinels: int = special_tokens.DEFAULT_NUM_SENTINELS) -> np.ndarray:
    """The project tokenizers' sentinel ids (special_tokens.sentinel_id): 5, 6, ..."""
    return np.array(
        [special_tokens.sentinel_id(i, num_sentinels) for i in range(num_sentinels)], np.int32
    )


def span_counts(
    length: int, noise_density: float = NOISE_DENSITY, mean_span_length=MEAN_SPAN_LENGTH
):
    """(num_noise_tokens, num_noise_spans) of a sequence of `length` tokens (t5.data's rounding)."""
    if length < 2:
        raise ValueError(f"span corruption needs sequences of >= 2 tokens, got length={length}.")
    if not 0.0 < noise_density < 1.0 or mean_span_length < 1.0:
        raise ValueError(
            f"noise_density={noise_density} must lie in (0, 1) and mean_span_length="
            f"{mean_span_length} be >= 1; T5 uses 0.15 and 3."
        )
    num_noise = int(np.clip(round(length * noise_density), 1, length - 1))
    num_spans = max(1, int(round(num_noise / mean_span_length)))
    return num_noise, num_spans


def corrupted_lengths(length: int, noise_density=NOISE_DENSITY, mean_span_length=MEAN_SPAN_LENGTH):
    """(input length, target length) after corruption, EOS included: the same for every draw."""
    num_noise, num_spans = span_counts(length, noise_density, mean_span_length)
    return length - num_noise + num_spans + 1, num_noise + num_spans + 1


def _random_segmentation(total: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """`total` items cut into `num_segments` non-empty runs at random; their lengths [num_segments]."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=num_segments - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total]]))


def random_spans(length: int, rng, noise_density=NOISE_DENSITY, mean_span_length=MEAN_SPAN_LENGTH):
    """Span lengths (kept [S], noise [S]) of one random layout: kept_0, noise_0, kept_1, ...

    `rng`: a numpy Generator (or seed). sum(kept) + sum(noise) == length; every span non-empty.
    """
    rng = np.random.default_rng(rng)
    num_noise, num_spans = span_counts(length, noise_density, mean_span_length)
    noise = _random_segmentation(num_noise, num_spans, rng)
    kept = _random_segmentation(length - num_noise, num_spans, rng)
    return kept, noise


def random_noise_mask(
    length: int,
    rng,
    noise_density=NOISE_DENSITY,
    mean_span_length=MEAN_SPAN_LENGTH,
    random_roll: bool = False,
) -> np.ndarray:
    """bool [length] of one random layout (True = noise).

    Without `random_roll` (t5.data's default) the first token is always kept and the last always
    noise; `random_roll=True` (seqio's option) rotates the mask by a uniform offset, so every
    position is noise with the same probability (a span may then wrap around the end).
    """
    rng = np.random.default_rng(rng)
    mask = noise_mask(*random_spans(length, rng, noise_density, mean_span_length))
    return np.roll(mask, rng.integers(length)) if random_roll else mask


def noise_mask(kept_lengths, noise_lengths) -> np.ndarray:
    """bool [sum of lengths]: True on noise tokens, for spans kept_0, noise_0, kept_1, noise_1, ..."""
    kept_lengths, noise_lengths = np.asarray(kept_lengths), np.asarray(noise_lengths)
    if kept_lengths.shape != noise_lengths.shape or kept_lengths.ndim != 1:
        raise ValueError(
            f"kept and noise span lengths must be two [S] arrays of equal length, got shapes "
            f"{kept_lengths.shape} and {noise_lengths.shape}."
        )
    if np.any(noise_lengths < 1) or np.any(kept_lengths < 0):
        raise ValueError("noise spans must be non-empty and kept spans non-negative.")
    spans = np.stack([kept_lengths, noise_lengths], axis=1).reshape(-1)
    flags = np.tile([False, True], len(kept_lengths))
    return np.repeat(flags, spans)


def corrupt(tokens, mask, sentinels, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of `tokens` int [T] with the noise `mask` bool [T].

    inputs: the kept tokens, each noise span replaced by its sentinel (span i: sentinels[i]), then
    eos_id. targets: sentinels[i] followed by noise span i, for every span, then eos_id.
    """
    tokens, mask = np.asarray(tokens), np.asarray(mask, bool)
    if tokens.ndim != 1 or tokens.shape != mask.shape:
        raise ValueError(
            f"tokens and mask must be two [T] arrays of equal shape, got {tokens.shape} and "
            f"{mask.shape}."
        )
    starts = mask & ~np.concatenate([[False], mask[:-1]])  # first token of each noise span
    num_spans = int(starts.sum())
    sentinels = np.asarray(sentinels)
    if num_spans > len(sentinels):
        raise ValueError(
            f"{num_spans} noise spans need as many sentinels, got {len(sentinels)}; pass more "
            "sentinel ids or corrupt shorter sequences."
        )
    span_index = np.cumsum(starts) - 1  # [T]: which span a noise token belongs to
    inputs, targets = [], []
    for t in range(len(tokens)):
        if starts[t]:
            inputs.append(sentinels[span_index[t]])
            targets.append(sentinels[span_index[t]])
        (targets if mask[t] else inputs).append(tokens[t])
    eos = [eos_id]
    return np.asarray(inputs + eos, np.int32), np.asarray(targets + eos, np.int32)


def uncorrupt(inputs, targets, sentinels, eos_id: int) -> np.ndarray:
    """The original tokens: each sentinel of `inputs` replaced by its span from `targets`.
    The inverse of `corrupt` (EOS dropped)."""
    sentinel_set = {int(s) for s in np.asarray(sentinels)}
    spans, current = {}, None
    for token in np.asarray(targets).tolist():
        if token == eos_id:
            break
        if token in sentinel_set:
            current = token
            spans[current] = []
        elif current is not None:
            spans[current].append(token)
    out = []
    for token in np.asarray(inputs).tolist():
        if token == eos_id:
            break
        out.extend(spans.get(token, []) if token in sentinel_set else [token])
    return np.asarray(out, np.int32)


def corrupt_batch(
    sequences,
    rng,
    sentinels,
    eos_id: int,
    noise_density=NOISE_DENSITY,
    mean_span_length=MEAN_SPAN_LENGTH,
) -> dict[str, np.ndarray]:
    """Random span corruption of every row of `sequences` int [N, T], one layout per row
    (`random_noise_mask` without roll, so every row has the same lengths).

    Returns {'inputs': int32 [N, S_in], 'targets': int32 [N, S_out]} (`corrupted_lengths(T)`).
    """
    sequences = np.asarray(sequences)
    if sequences.ndim != 2:
        raise ValueError(f"sequences must be [N, T], got shape {sequences.shape}.")
    rng = np.random.default_rng(rng)
    pairs = [
        corrupt(row, random_noise_mask(len(row), rng, noise_density, mean_span_length),
                sentinels, eos_id)
        for row in sequences
    ]  # fmt: skip
    in_len, out_len = corrupted_lengths(sequences.shape[1], noise_density, mean_span_length)
    inputs = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, in_len), np.int32)
    targets = np.stack([p[1] for p in pairs]) if pairs else np.zeros((0, out_len), np.int32)
    return {"inputs": inputs, "targets": targets}


def loss(logits, targets, pad_id: int = special_tokens.PAD_ID, weights=None):
    """Cross-entropy of the decoder's logits [B,T,V] on `targets` int [B,T] (pad_id weighted 0;
    `weights` [B] scale rows, e.g. 0 for an eval batch's padding rows) -> (loss, metric pairs)."""
    token_weights = (targets != pad_id).astype(np.float32)
    if weights is not None:
        token_weights = token_weights * weights[:, None]
    return classification_loss(logits, targets, token_weights)
