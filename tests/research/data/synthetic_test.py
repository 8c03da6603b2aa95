from collections import defaultdict

import numpy as np
import pytest

from research.data import synthetic
from research.text import ngram


@pytest.mark.parametrize("order", [1, 2])
def test_markov_chain_has_branching_successors_per_context(order):
    tokens = synthetic.markov_tokens(40_000, vocab_size=6, seed=0, order=order, branching=3)
    assert tokens.dtype == np.int32 and tokens.shape == (40_000,)
    assert tokens.min() >= 0 and tokens.max() < 6
    successors = defaultdict(set)
    for i in range(order, len(tokens)):
        successors[tuple(tokens[i - order : i])].add(int(tokens[i]))
    assert {len(s) for s in successors.values()} == {3}
    np.testing.assert_array_equal(
        tokens, synthetic.markov_tokens(40_000, vocab_size=6, seed=0, order=order, branching=3)
    )


@pytest.mark.parametrize("order", [1, 2])
def test_matching_ngram_reaches_the_entropy_rate_and_beats_lower_orders(order):
    stream = synthetic.markov_tokens(60_000, vocab_size=8, seed=1, order=order, branching=2)
    train, held_out = stream[:50_000], stream[50_000:]
    losses = [
        ngram.ngram_loss(train, held_out, order=n, k=0.01, vocab_size=8)
        for n in range(1, order + 2)
    ]
    assert losses[order] == pytest.approx(np.log(2), abs=0.02)  # n-gram of order + 1 tokens
    assert losses[order] < min(losses[:order]) - 0.3


def test_repeating_tokens():
    np.testing.assert_array_equal(synthetic.repeating_tokens(7, 3, 10), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(synthetic.repeating_tokens(6, 5, 3), [0, 1, 2, 0, 1, 0])


def test_gaussian_blobs_are_separable_by_class_means():
    data = synthetic.gaussian_blobs(2000, dim=16, num_classes=4, seed=0)
    image, label = data["image"], data["label"]
    assert image.shape == (2000, 16) and image.dtype == np.float32 and label.dtype == np.int32
    assert set(label.tolist()) == {0, 1, 2, 3}
    means = np.stack([image[label == c].mean(0) for c in range(4)])
    nearest = np.argmin(((image[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == label) > 0.9


def test_too_many_contexts_are_rejected():
    with pytest.raises(ValueError, match="use a smaller vocabulary or order"):
        synthetic.markov_tokens(10, vocab_size=257, seed=0, order=3)
