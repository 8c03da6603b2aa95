"""Add-k smoothed n-gram language models, counted and scored with numpy: the baseline for LM losses.

P(w | ctx) = (c(ctx, w) + k) / (c(ctx) + k * V), with counts from the training stream and
c(ctx) = sum_w c(ctx, w). Target i of an evaluation stream uses the context
eval[max(0, i - order + 1) : i]: the first order - 2 targets see shorter contexts and use the
counts of that shorter order. An n-gram of m tokens is one int64 key, sum_j t_j * V^(m-1-j), so
counting is np.unique and lookup is np.searchsorted; V^order must fit in an int64.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class NgramResult:
    """Evaluation loss in nats per target, and the order and k that gave it."""

    loss: float
    order: int
    k: float


def _window_keys(tokens: np.ndarray, length: int, vocab_size: int) -> np.ndarray:
    """Key of every window of `length` tokens, by start. Shape: int64 [max(L - length + 1, 0)]."""
    num = len(tokens) - length + 1
    keys = np.zeros(max(num, 0), np.int64)
    for j in range(length):
        keys = keys * vocab_size + tokens[j : j + num]
    return keys


def _count(sorted_keys: np.ndarray, counts: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Count of each query key among the unique `sorted_keys` (0 when absent). Shape: [Q]."""
    if not len(sorted_keys):
        return np.zeros(len(queries), np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == queries, counts[pos], 0)


def _check(tokens, vocab_size: int, name: str) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.size == 0:
        tokens = tokens.astype(np.int64)  # an empty list arrives as float64
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D integer array, got dtype {tokens.dtype} and shape "
            f"{tokens.shape}; pass one stream of token ids."
        )
    bad = np.flatnonzero((tokens < 0) | (tokens >= vocab_size))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}] = {int(tokens[i])} is outside [0, vocab_size={vocab_size}); "
            "pass the vocab_size of the tokenizer that made the stream."
        )
    return tokens.astype(np.int64)


def target_counts(
    train_tokens, eval_tokens, *, order: int, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """c(ctx, w) and c(ctx) from the training stream for each target eval_tokens[1:].

    Shapes: train int [N], eval int [L] -> two int64 [L - 1].
    """
    if order < 1 or vocab_size**order >= 2**63:
        raise ValueError(
            f"order={order} must be >= 1 with vocab_size ** order < 2 ** 63 (vocab_size="
            f"{vocab_size}); choose a lower order."
        )
    train = _check(train_tokens, vocab_size, "train_tokens")
    tokens = _check(eval_tokens, vocab_size, "eval_tokens")
    if len(tokens) < 2:
        raise ValueError(f"eval_tokens has {len(tokens)} tokens; it needs at least 2 (one target).")
    targets = np.arange(1, len(tokens))
    context_len = np.minimum(targets, order - 1)
    ngram_counts = np.zeros(len(targets), np.int64)
    context_counts = np.zeros(len(targets), np.int64)
    for c in np.unique(context_len).tolist():
        ngrams = _window_keys(train, c + 1, vocab_size)
        ngram_keys, ngram_freq = np.unique(ngrams, return_counts=True)
        # Contexts counted as prefixes of n-grams, so that sum_w c(ctx, w) == c(ctx) exactly.
        context_keys, context_freq = np.unique(ngrams // vocab_size, return_counts=True)
        sel = context_len == c
        queries = _window_keys(tokens, c + 1, vocab_size)[targets[sel] - c]
        ngram_counts[sel] = _count(ngram_keys, ngram_freq, queries)
        context_counts[sel] = _count(context_keys, context_freq, queries // vocab_size)
    return ngram_counts, context_counts


def _log_probs(counts: tuple[np.ndarray, np.ndarray], k: float, vocab_size: int) -> np.ndarray:
    if not k > 0:
        raise ValueError(f"k={k} must be positive (k = 0 gives unseen n-grams probability 0).")
    ngram_counts, context_counts = counts
    return np.log(ngram_counts + k) - np.log(context_counts + k * vocab_size)


def ngram_log_probs(train_tokens, eval_tokens, *, order: int, k: float, vocab_size: int):
    """log P(eval_tokens[i] | context) in nats for each target i >= 1. Shape: float64 [L - 1]."""
    counts = target_counts(train_tokens, eval_tokens, order=order, vocab_size=vocab_size)
    return _log_probs(counts, k, vocab_size)


def ngram_loss(train_tokens, eval_tokens, *, order: int, k: float, vocab_size: int) -> float:
    """Mean negative log-likelihood in nats of the targets eval_tokens[1:]."""
    log_probs = ngram_log_probs(train_tokens, eval_tokens, order=order, k=k, vocab_size=vocab_size)
    return float(-np.mean(log_probs))


def best_ngram(
    train_tokens,
    eval_tokens,
    *,
    vocab_size: int,
    orders=(1, 2, 3, 4, 5),
    ks=(0.001, 0.01, 0.1, 1.0),
) -> NgramResult:
    """The (order, k) with the lowest `ngram_loss` on eval_tokens (the first one on ties)."""
    results = []
    for order in orders:
        counts = target_counts(train_tokens, eval_tokens, order=order, vocab_size=vocab_size)
        for k in ks:
            loss = float(-np.mean(_log_probs(counts, k, vocab_size)))
            results.append(NgramResult(loss=loss, order=order, k=k))
    return min(results, key=lambda r: r.loss)
