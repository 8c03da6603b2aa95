"""CountVectorizer / TfidfVectorizer: hand-computed values, scikit-learn parity over an option grid
on real text (Python's help topics), edge cases, out-of-core == in-memory, one-sentence errors."""

from pydoc_data import topics

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.feature_extraction.text as sk
from sklearn.exceptions import NotFittedError

from research.text import vectorizers as rt

DOCS = [text for _, text in sorted(topics.topics.items())][:24]  # about 140 KB of real text
HAND = ["The cat the", "the dog", "the cat, dog!"]  # see tests/research/text/tfidf_test.py


def assert_same(ours, theirs, ours_vec, theirs_vec, atol=1e-12):
    """Same vocabulary, same matrix (values to `atol`), our CSR canonical with the asked dtype."""
    assert ours_vec.vocabulary_ == theirs_vec.vocabulary_
    assert list(ours_vec.get_feature_names_out()) == list(theirs_vec.get_feature_names_out())
    assert sp.isspmatrix_csr(ours) and ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert ours.has_sorted_indices and ours.indices.dtype == np.int32
    ours.sum_duplicates()  # a no-op on canonical input: check that the pattern survives
    theirs = theirs.tocsr()
    theirs.sort_indices()
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=0, atol=atol)


def test_hand_computed_counts_idf_and_tfidf():
    count = rt.CountVectorizer()
    counts = count.fit_transform(HAND)
    assert count.vocabulary_ == {"cat": 0, "dog": 1, "the": 2}
    np.testing.assert_array_equal(counts.toarray(), [[1, 0, 2], [0, 1, 1], [1, 1, 1]])
    vec = rt.TfidfVectorizer()
    x = vec.fit_transform(HAND).toarray()
    np.testing.assert_allclose(vec.idf_, [1.2876820724517808, 1.2876820724517808, 1.0], rtol=1e-15)
    expected = [[0.5413428136679054, 0, 0.8408019731721111], [0, 0.7898069290660905,
                0.6133555370249717], [0.6198053799406072, 0.6198053799406072, 0.48133416873660545]]  # fmt: skip
    np.testing.assert_allclose(x, expected, rtol=1e-14)
    # Textbook idf without smoothing: 'the' is in every document, its weight is exactly 0.
    textbook = rt.TfidfVectorizer(idf_form="textbook", smooth_idf=False, norm=None)
    np.testing.assert_allclose(
        textbook.fit_transform(HAND).toarray()[0], [np.log(1.5), 0, 0], rtol=1e-15
    )


GRID = [
    dict(),
    dict(lowercase=False, norm="l1"),
    dict(ngram_range=(1, 2), min_df=2, max_df=0.8),
    dict(ngram_range=(2, 3), stop_words="english", sublinear_tf=True),
    dict(max_features=200),  # many ties among column totals: scikit-learn's tie breaking
    dict(max_features=57, ngram_range=(1, 3), binary=True),
    dict(min_df=0.1, max_df=20, smooth_idf=False),
    dict(use_idf=False, norm=None, binary=True),
    dict(token_pattern=r"(?u)\b\w+\b", stop_words=["the", "a", "of"], strip_accents="unicode"),
    dict(token_pattern=r"([a-z]+)_", ngram_range=(1, 2)),  # one capture group
    dict(tokenizer=str.split, token_pattern=None, lowercase=False, max_df=1),
    dict(preprocessor=lambda s: s.upper(), ngram_range=(3, 3), max_features=10),
    dict(vocabulary=["return", "yield", "lambda", "nonexistentword"]),
    dict(vocabulary={"class": 1, "def": 0}, sublinear_tf=True),
]


@pytest.mark.parametrize("options", GRID, ids=[str(i) for i in range(len(GRID))])
def test_tfidf_equals_sklearn(options):
    ours_vec, theirs_vec = rt.TfidfVectorizer(**options), sk.TfidfVectorizer(**options)
    ours, theirs = ours_vec.fit_transform(DOCS), theirs_vec.fit_transform(DOCS)
    assert_same(ours, theirs, ours_vec, theirs_vec)
    if options.get("use_idf", True):
        np.testing.assert_allclose(ours_vec.idf_, theirs_vec.idf_, rtol=1e-15)
    # transform of unseen text (words outside the vocabulary are ignored), after fit.
    new = DOCS[-3:] + ["entirely unknown wordsxyz", ""]
    assert_same(ours_vec.transform(new), theirs_vec.transform(new), ours_vec, theirs_vec)


@pytest.mark.parametrize("options", GRID[:7], ids=[str(i) for i in range(7)])
def test_counts_equal_sklearn(options):
    options = {k: v for k, v in options.items() if k not in ("norm", "sublinear_tf", "smooth_idf")}
    ours_vec, theirs_vec = rt.CountVectorizer(**options), sk.CountVectorizer(**options)
    assert_same(ours_vec.fit_transform(DOCS), theirs_vec.fit_transform(DOCS), ours_vec, theirs_vec)


def test_float32_and_integer_dtypes_follow_sklearn():
    for cls, dtype in ((rt.TfidfVectorizer, np.float32), (rt.CountVectorizer, np.float32)):
        ours = cls(dtype=dtype).fit_transform(DOCS)
        theirs = getattr(sk, cls.__name__)(dtype=dtype).fit_transform(DOCS)
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-6, atol=1e-7)
    assert rt.CountVectorizer().fit_transform(DOCS).dtype == np.int64


def test_edge_cases_match_sklearn():
    # Empty documents keep their (empty) rows; ties among max_features on a tiny corpus.
    docs = ["", "aa bb cc dd", "", "dd cc ee ff", "gg hh"]
    for options in (dict(max_features=3), dict(max_df=1), dict(min_df=2), dict(binary=True)):
        ours_vec, theirs_vec = rt.TfidfVectorizer(**options), sk.TfidfVectorizer(**options)
        assert_same(ours_vec.fit_transform(docs), theirs_vec.fit_transform(docs), ours_vec,
                    theirs_vec)  # fmt: skip
    # Bytes decode; a '\x00' inside a document leaves the one-pass tokenizer for the per-document one.
    docs = [b"caf\xc3\xa9 bar", "x\x00yy zz\x00zz", "yy"]
    ours_vec, theirs_vec = rt.CountVectorizer(), sk.CountVectorizer()
    assert_same(ours_vec.fit_transform(docs), theirs_vec.fit_transform(docs), ours_vec, theirs_vec)


def test_fit_stream_equals_in_memory_fit():
    for options in (dict(), dict(max_features=150, ngram_range=(1, 2), min_df=2, max_df=0.9),
                    dict(binary=True, vocabulary=["def", "class", "yield"])):  # fmt: skip
        chunks = (DOCS[i : i + 5] for i in range(0, len(DOCS), 5))  # a generator, read once
        stream = rt.TfidfVectorizer(**options).fit_stream(chunks)
        memory = rt.TfidfVectorizer(**options).fit(DOCS)
        assert stream.vocabulary_ == memory.vocabulary_
        np.testing.assert_allclose(stream.idf_, memory.idf_, rtol=1e-15)
        assert_same(stream.transform(DOCS), memory.transform(DOCS), stream, memory, atol=0)
    counts = rt.CountVectorizer(max_features=40).fit_stream([DOCS[:10], DOCS[10:]])
    assert counts.vocabulary_ == sk.CountVectorizer(max_features=40).fit(DOCS).vocabulary_


def test_bad_inputs_are_one_sentence_errors():
    with pytest.raises(ValueError, match="^empty vocabulary; perhaps the documents only contain"):
        rt.TfidfVectorizer().fit([])
    with pytest.raises(ValueError, match="^empty vocabulary"):
        rt.CountVectorizer(stop_words=["the", "dog"]).fit(["the dog", "a"])
    with pytest.raises(ValueError, match="^After pruning, no terms remain. Try a lower min_df"):
        rt.TfidfVectorizer(max_df=0.5).fit(HAND)  # every term is in >= 2 of 3
    with pytest.raises(ValueError, match="^max_df corresponds to < documents than min_df"):
        rt.TfidfVectorizer(min_df=3, max_df=2).fit(HAND)
    # NotFittedError is a ValueError (and what scikit-learn raises).
    with pytest.raises(NotFittedError, match="not fitted; call fit or fit_transform"):
        rt.TfidfVectorizer().transform(HAND)
    with pytest.raises(ValueError, match="has no vocabulary; call fit or fit_transform"):
        rt.CountVectorizer().transform(HAND)
    with pytest.raises(ValueError, match="norm='l3' is not supported; use 'l2', 'l1' or None"):
        rt.TfidfVectorizer(norm="l3").fit(HAND)
    with pytest.raises(ValueError, match="analyzer='char' is not supported here"):
        rt.CountVectorizer(analyzer="char").fit(HAND)
    with pytest.raises(ValueError, match="Iterable over raw text documents expected"):
        rt.CountVectorizer().fit("one string")
    with pytest.raises(ValueError, match=r"min_df=1.5 must be a float in \[0.0, 1.0\]"):
        rt.CountVectorizer(min_df=1.5).fit(HAND)
    with pytest.raises(ValueError, match="Duplicate term in vocabulary: 'cat'"):
        rt.CountVectorizer(vocabulary=["cat", "cat"]).fit(HAND)
    with pytest.raises(ValueError, match="is not text; pass an iterable of str"):
        rt.CountVectorizer().fit(["ok", None])


def test_sklearn_api_surface():
    # get_params / clone work (BaseEstimator), and a Pipeline can hold it.
    from sklearn.base import clone

    vec = rt.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    assert clone(vec).get_params()["ngram_range"] == (1, 2)
    assert set(sk.TfidfVectorizer().get_params()) <= set(vec.get_params())
    analyze = rt.CountVectorizer(ngram_range=(1, 2)).build_analyzer()
    assert sorted(analyze("The cat sat")) == sorted(sk.CountVectorizer(ngram_range=(1, 2))
                                                    .build_analyzer()("The cat sat"))  # fmt: skip
