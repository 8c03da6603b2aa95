import numpy as np
import pytest
import scipy.stats

from research.embeddings.evaluation import (
    analogy_accuracy,
    analogy_answers,
    cluster_accuracy,
    similarity_correlation,
)
from research.embeddings.word_vectors import WordVectors


def test_cluster_accuracy_hand_example():
    # x1, x2 point east, y1, y2 north; y2 leans east, so its nearest labelled word is x2.
    vectors = WordVectors(
        ["x1", "x2", "y1", "y2"], np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [1.0, 0.9]])
    )
    labels = {"x1": 0, "x2": 0, "y1": 1, "y2": 1}
    # y1's nearest is y2 (right); y2's nearest is x2 (wrong): 3 of 4.
    assert cluster_accuracy(vectors, labels) == 0.75
    # A labelled word without a vector is a miss, not dropped from the denominator.
    assert cluster_accuracy(vectors, {**labels, "absent": 1}) == 3 / 5
    with pytest.raises(ValueError, match="at least two"):
        cluster_accuracy(vectors, {"x1": 0})


def structured_vectors(seed=0, noise=0.0):
    """Words c{k}_r{j} = onehot(k) ++ onehot(j) (+ noise): all of norm sqrt(2), so without noise
    every planted analogy holds exactly between the unit vectors too."""
    rng = np.random.default_rng(seed)
    a, b = np.eye(4, 7), np.eye(3, 7, k=4)
    words = [f"c{k}_r{j}" for k in range(4) for j in range(3)]
    vecs = (a[:, None] + b[None]).reshape(12, 7) + noise * rng.normal(size=(12, 7))
    questions = [
        (f"c{k}_r{j}", f"c{k}_r{j2}", f"c{k2}_r{j}", f"c{k2}_r{j2}")
        for k in range(4)
        for k2 in range(4)
        for j in range(3)
        for j2 in range(3)
        if k != k2 and j != j2
    ]
    return WordVectors(words, vecs), questions


@pytest.mark.parametrize("method", ["add", "mul"])
def test_exact_parallelograms_are_all_answered(method):
    vectors, questions = structured_vectors()
    assert analogy_accuracy(vectors, questions, method) == 1.0


@pytest.mark.parametrize("method", ["add", "mul"])
def test_batched_answers_equal_most_similar_one_by_one(method, monkeypatch):
    # Noisy vectors get some questions wrong; the batched ranking must agree with the per-query
    # one (itself checked against gensim), also across chunk boundaries.
    monkeypatch.setattr("research.embeddings.evaluation.CHUNK", 7)
    vectors, questions = structured_vectors(seed=1, noise=1.5)
    query = vectors.most_similar if method == "add" else vectors.most_similar_cosmul
    expected = [query([b, c], [a], topn=1)[0][0] for a, b, c, _ in questions]
    assert analogy_answers(vectors, questions, method) == expected
    accuracy = analogy_accuracy(vectors, questions, method)
    assert 0 < accuracy < 1
    assert accuracy == np.mean([e == q[3] for e, q in zip(expected, questions, strict=True)])


def test_questions_with_unknown_words_count_as_misses():
    vectors, questions = structured_vectors()
    extra = [("nope", "c0_r1", "c1_r0", "c1_r1")]
    assert analogy_answers(vectors, extra) == [None]
    assert analogy_accuracy(vectors, questions[:3] + extra) == 0.75
    with pytest.raises(ValueError, match="use 'add' or 'mul'"):
        analogy_accuracy(vectors, questions, "sub")
    with pytest.raises(ValueError, match="analogies is empty"):
        analogy_accuracy(vectors, [])


def test_similarity_correlation_equals_scipy_and_skips_unknown_pairs():
    rng = np.random.default_rng(0)
    vectors = WordVectors([f"w{i}" for i in range(10)], rng.normal(size=(10, 4)))
    pairs = [(f"w{i}", f"w{j}", float(rng.random())) for i in range(10) for j in range(i)]
    cosines = [vectors.similarity(a, b) for a, b, _ in pairs]
    expected = scipy.stats.spearmanr([s for *_, s in pairs], cosines).statistic
    got = similarity_correlation(vectors, pairs + [("w0", "absent", 1.0)])
    assert got == pytest.approx(expected, abs=1e-12)
    ranked = [(a, b, c) for (a, b, _), c in zip(pairs, cosines, strict=True)]
    assert similarity_correlation(vectors, ranked) == pytest.approx(1.0)
    assert similarity_correlation(vectors, [(a, b, -c) for a, b, c in ranked]) == pytest.approx(
        -1.0
    )
    with pytest.raises(ValueError, match="only 2 of the 3 pairs"):
        similarity_correlation(vectors, pairs[:2] + [("w0", "absent", 1.0)])
