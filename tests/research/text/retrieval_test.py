"""Retrieval: cosine top-k (dense and TF-IDF sparse) against brute-force numpy, sharded over 8
devices == unsharded, BM25 against its formula evaluated independently (and one score by hand)."""

import math
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from research.sharding.mesh import make_mesh
from research.text import retrieval
from research.text.vectorizers import TfidfVectorizer


def brute_force_cosine(queries, corpus, k):
    unit = lambda m: m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-300)  # noqa: E731
    scores = unit(queries) @ unit(corpus).T
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sharded", [False, True])
def test_dense_cosine_top_k_equals_numpy(sharded):
    # 37 documents: not a multiple of 8, so padded documents must never be returned.
    rng = np.random.default_rng(0)
    corpus, queries = rng.normal(size=(37, 16)), rng.normal(size=(5, 16))
    index = retrieval.CosineIndex(corpus, mesh=make_mesh() if sharded else None)
    scores, ids = index.search(queries, k=7)
    want_scores, want_ids = brute_force_cosine(queries, corpus, 7)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sharded", [False, True])
def test_tfidf_cosine_top_k_equals_numpy(sharded):
    docs = [f"w{i % 7} w{i % 5} w{i % 3} common w{i % 11}" for i in range(29)]
    vectorizer = TfidfVectorizer(token_pattern=r"\w+")
    corpus = vectorizer.fit_transform(docs)
    queries = vectorizer.transform(["w1 w2", "w4 common", "w10 w6 w3"])
    index = retrieval.CosineIndex(corpus, mesh=make_mesh() if sharded else None)
    scores, ids = index.search(queries, k=4)
    want_scores, want_ids = brute_force_cosine(queries.toarray(), corpus.toarray(), 4)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    # Ties are frequent here: equal scores must come lowest id first, as the stable argsort does.
    np.testing.assert_array_equal(ids, want_ids)


def bm25_by_formula(docs, query, k1, b):
    """Okapi BM25 summed over the query's tokens, straight from the formula in plain Python."""
    tokenized = [d.split() for d in docs]
    n, avgdl = len(docs), sum(map(len, tokenized)) / len(docs)
    scores = []
    for tokens in tokenized:
        tf, score = Counter(tokens), 0.0
        for term in query.split():
            df = sum(term in t for t in tokenized)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            if not tf[term]:
                continue
            denominator = tf[term] + k1 * (1 - b + b * len(tokens) / avgdl)
            score += idf * tf[term] * (k1 + 1) / denominator
        scores.append(score)
    return np.array(scores)


def test_bm25_hand_computed_scores():
    # idf(aa) = ln(1 + 2.5 / 1.5) = 0.98083, idf(bb) = ln(1 + 1.5 / 2.5) = 0.47000, avgdl = 8 / 3.
    # d0 = 0.98083 * 2 * 2.5 / (2 + 1.5 * (0.25 + 0.75 * 3 / (8/3))) + 0.47000 * 2.5 / (1 + ...)
    index = retrieval.BM25Index().fit(["aa bb aa", "bb cc", "cc dd ee"])
    scores, ids = index.search(["aa bb"], k=3)
    np.testing.assert_array_equal(ids, [[0, 1, 2]])
    np.testing.assert_allclose(scores, [[1.7920354852110416, 0.5295815540797021, 0.0]], rtol=1e-6)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "k1,b,sharded", [(1.5, 0.75, False), (1.2, 0.3, True), (0.5, 1.0, False), (0.0, 0.0, True)]
)
def test_bm25_equals_formula(k1, b, sharded):
    rng = np.random.default_rng(1)
    words = [f"t{i}" for i in range(12)]
    docs = [" ".join(rng.choice(words, size=rng.integers(1, 15))) for _ in range(21)]
    queries = ["t1 t2", "t3 t3 t7", "t11 unknownword", "t0 t1 t2 t3 t4 t5"]
    index = retrieval.BM25Index(k1, b, mesh=make_mesh() if sharded else None).fit(docs)
    scores, ids = index.search(queries, k=21)  # the full ranking
    for q, query in enumerate(queries):
        want = bm25_by_formula(docs, query, k1, b)
        np.testing.assert_allclose(scores[q], want[ids[q]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(scores[q], np.sort(want)[::-1], rtol=1e-5, atol=1e-6)


def test_bad_inputs_are_one_sentence_errors():
    index = retrieval.CosineIndex(np.eye(3))
    with pytest.raises(ValueError, match="k=4 must be between 1 and the 3 documents"):
        index.search(np.eye(3), k=4)
    with pytest.raises(ValueError, match=r"queries have shape \(2, 5\) but the index has 3"):
        index.search(np.ones((2, 5)), k=1)
    with pytest.raises(ValueError, match="pass a non-empty"):
        retrieval.CosineIndex(sp.csr_matrix((0, 4)))
    with pytest.raises(ValueError, match="call fit\\(documents\\) before search"):
        retrieval.BM25Index().search(["a"], k=1)
    with pytest.raises(ValueError, match="k1=-1 must be >= 0"):
        retrieval.BM25Index(k1=-1).fit(["aa bb"])
