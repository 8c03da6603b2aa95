"""Host-side counting: the one-pass tokenizer equals per-document findall, n-grams equal
scikit-learn's analyzer, and both pair-counting paths agree with a Counter."""

import re
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer as SkCount

from research.text import bag_of_words as bow

TRICKY = [
    "Straße ÉCOLE naïve_test x y2 __init__ 3.14 a",
    "",
    "Ωμέγα ΣΟΦΟΣ σοφός; 日本語テキスト 123 b_",
    "end-of-line\ttab\nnewline x",
    "ab",
    "don’t stop—go «ßa» naïve naïve’s 東京 x’y zz nb\u00a0sp em\u2003sp \x01ctl\x1fz_",  # non-ASCII runs: 0, 1 or several tokens
]


@pytest.mark.parametrize("docs", [TRICKY, ["naïve café", "", "plain ascii", "à ß’s x"]])
def test_one_pass_tokenizer_equals_per_document_findall(docs):
    # Bug caught: a token spanning two documents, or a document boundary off by one. The second
    # corpus has no run with several tokens (the one-pass path's mask-and-gather branch).
    findall = re.compile(bow.DEFAULT_TOKEN_PATTERN).findall
    strings, ids, rows = bow.tokenize_corpus(docs, str.lower, None)
    got = [[strings[i] for i in ids[rows == d].tolist()] for d in range(len(docs))]
    assert got == [findall(doc.lower()) for doc in docs]
    # The same tokens through the per-document path (a tokenizer callable).
    strings2, ids2, rows2 = bow.tokenize_corpus(docs, str.lower, findall)
    assert [strings2[i] for i in ids2] == [strings[i] for i in ids]
    np.testing.assert_array_equal(rows2, rows)


def test_separator_inside_a_document_falls_back_to_per_document():
    docs = ["aa\x00bb", "cc"]
    strings, ids, rows = bow.tokenize_corpus(docs, str.lower, None)
    assert [strings[i] for i in ids] == ["aa", "bb", "cc"] and rows.tolist() == [0, 0, 1]


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 3), (2, 2), (3, 4)])
@pytest.mark.parametrize("stop_words", [None, frozenset({"the", "cat"})])
def test_ngrams_equal_sklearn_analyzer(ngram_range, stop_words):
    docs = ["the cat sat on the mat the cat", "cat", "", "a b c", "the dog and the cat sat"]
    tokens = bow.tokenize_corpus(docs, str.lower, None)
    groups = bow.feature_occurrences(*tokens, ngram_range, stop_words)
    analyze = SkCount(ngram_range=ngram_range, stop_words=stop_words and list(stop_words))
    analyze = analyze.build_analyzer()
    for d, doc in enumerate(docs):
        got = Counter(s[i] for s, r, ids in groups for i in ids[r == d].tolist())
        assert got == Counter(analyze(doc)), doc


def test_count_pairs_both_paths_equal_counter(monkeypatch):
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, 9, 400))
    ids = rng.integers(0, 13, 400)
    want = Counter(zip(rows.tolist(), ids.tolist(), strict=True))
    monkeypatch.setattr(bow, "_BLOCK_CELLS", 20)  # blocks of one document
    blocked = bow.count_pairs(rows, ids, 9, 13)
    shuffled = rng.permutation(400)  # unsorted rows: sorted by row first
    dense = bow.count_pairs(rows[shuffled], ids[shuffled], 9, 13)
    monkeypatch.setattr(bow, "_BINCOUNT_LIMIT", 0)  # force the np.unique path
    unique = bow.count_pairs(rows[shuffled], ids[shuffled], 900, 13)
    for r, c, n in (blocked, dense, unique):
        assert dict(zip(zip(r.tolist(), c.tolist(), strict=True), n.tolist(), strict=True)) == want
        keys = r * 13 + c
        assert np.all(np.diff(keys) > 0)  # sorted by (row, col), no duplicates


def test_relabel_equals_np_unique(monkeypatch):
    keys = np.random.default_rng(0).integers(0, 50, 300)
    want_uniq, want_inverse = np.unique(keys, return_inverse=True)
    for limit in (1 << 25, 0):  # the dense table, then (range 5000 > 8 * 300) the sort
        monkeypatch.setattr(bow, "_BINCOUNT_LIMIT", limit)
        uniq, inverse = bow._relabel(keys, 5000)
        np.testing.assert_array_equal(uniq, want_uniq)
        np.testing.assert_array_equal(inverse, want_inverse)
