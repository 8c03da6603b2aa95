import math
from collections import Counter

import numpy as np
import pytest

from research.text import ngram


def brute_force_loss(train, tokens, order, k, vocab_size):
    """Independent reference: Python dicts of tuples, one target at a time."""
    counts = [Counter() for _ in range(order)]  # counts[c][(ctx..., w)] for context length c
    for c in range(order):
        for i in range(c, len(train)):
            counts[c][tuple(train[i - c : i + 1])] += 1
    total = 0.0
    for i in range(1, len(tokens)):
        c = min(i, order - 1)
        ctx = tuple(tokens[i - c : i])
        joint = counts[c][ctx + (tokens[i],)]
        marginal = sum(n for key, n in counts[c].items() if key[:-1] == ctx)
        total -= math.log((joint + k) / (marginal + k * vocab_size))
    return total / (len(tokens) - 1)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [0.01, 0.5, 2.0])
def test_matches_brute_force(order, k):
    rng = np.random.default_rng(order)
    vocab_size = 4
    train = rng.integers(vocab_size, size=300).tolist()
    tokens = rng.integers(vocab_size, size=60).tolist()
    expected = brute_force_loss(train, tokens, order, k, vocab_size)
    got = ngram.ngram_loss(train, tokens, order=order, k=k, vocab_size=vocab_size)
    assert got == pytest.approx(expected, rel=1e-12)


def test_unigram_add_one_closed_form():
    train = [0, 0, 0, 1, 2, 2]  # counts 3, 1, 2 over V = 4, N = 6
    tokens = [3, 0, 2, 3]  # targets 0, 2, 3
    expected = -np.mean(np.log([(3 + 1) / 10, (2 + 1) / 10, (0 + 1) / 10]))
    got = ngram.ngram_loss(train, tokens, order=1, k=1.0, vocab_size=4)
    assert got == pytest.approx(expected, rel=1e-12)


def test_unigram_on_uniform_data_is_log_vocab():
    rng = np.random.default_rng(0)
    train, tokens = rng.integers(50, size=200_000), rng.integers(50, size=20_000)
    got = ngram.ngram_loss(train, tokens, order=1, k=1.0, vocab_size=50)
    assert got == pytest.approx(np.log(50), abs=5e-3)


@pytest.mark.parametrize("context", [[1, 2], [3, 3], [2]])
def test_probabilities_of_one_context_sum_to_one(context):
    rng = np.random.default_rng(1)
    vocab_size = 5
    train = rng.integers(vocab_size, size=100)
    probs = [
        np.exp(
            ngram.ngram_log_probs(train, context + [w], order=3, k=0.3, vocab_size=vocab_size)[-1]
        )
        for w in range(vocab_size)
    ]
    assert sum(probs) == pytest.approx(1.0, rel=1e-12)


def test_higher_order_wins_on_a_deterministic_cycle_and_best_ngram_finds_it():
    train = np.tile(np.arange(7), 100)
    tokens = np.tile(np.arange(7), 10)
    result = ngram.best_ngram(train, tokens, vocab_size=7, orders=(1, 2, 3), ks=(0.001, 1.0))
    assert (result.order, result.k) == (2, 0.001)  # order 3 has one count fewer per context
    expected = ngram.ngram_loss(train, tokens, order=2, k=0.001, vocab_size=7)
    assert result.loss == expected
    assert result.loss < 0.01


def test_unseen_training_data_gives_uniform():
    got = ngram.ngram_loss([], [0, 1, 2], order=3, k=0.1, vocab_size=8)
    assert got == pytest.approx(np.log(8), rel=1e-12)


def test_errors_speak_to_the_user():
    with pytest.raises(ValueError, match=r"eval_tokens\[1\] = 9 is outside"):
        ngram.ngram_loss([0, 1], [0, 9], order=2, k=1.0, vocab_size=4)
    with pytest.raises(ValueError, match="k=0 must be positive"):
        ngram.ngram_loss([0, 1], [0, 1], order=2, k=0, vocab_size=4)
    with pytest.raises(ValueError, match="choose a lower order"):
        ngram.ngram_loss([0, 1], [0, 1], order=8, k=1.0, vocab_size=257)
    with pytest.raises(ValueError, match="at least 2"):
        ngram.ngram_loss([0, 1], [0], order=2, k=1.0, vocab_size=4)
