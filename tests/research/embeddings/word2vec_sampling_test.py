"""Subsampling, the negative table and the dynamic window: by hand and against gensim's own tables."""

import numpy as np
import pytest

from research.embeddings import word2vec_sampling as ws
from tests.reference_packages import import_reference


def test_keep_probability_by_hand():
    # counts 100, 10, 1 of 111 words, sample 0.01: t = 1.11.
    keep = ws.keep_probabilities(np.array([100, 10, 1]), 0.01)
    t = 1.11
    want = [(np.sqrt(100 / t) + 1) * t / 100, (np.sqrt(10 / t) + 1) * t / 10, 1.0]
    np.testing.assert_allclose(keep, want, rtol=1e-12)
    assert keep[0] == pytest.approx(0.1164, abs=1e-4)  # the frequent word is mostly dropped
    np.testing.assert_array_equal(ws.keep_probabilities(np.array([100, 10]), 0), [1.0, 1.0])


def _gensim_vocab(sample):
    gensim = import_reference("gensim")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    probs = 1.0 / np.arange(1, 41)  # Zipf, so a few words are frequent enough to subsample
    sentences = [list(rng.choice(words, 20, p=probs / probs.sum())) for _ in range(300)]
    model = gensim.models.Word2Vec(vector_size=4, min_count=1, sample=sample, workers=1)
    model.build_vocab(sentences)
    counts = np.array([model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key])
    return model, counts


def test_keep_probabilities_equal_gensims_sample_int():
    """Catches a different subsampling formula (e.g. the paper's 1 - sqrt(t / f))."""
    model, counts = _gensim_vocab(sample=1e-2)
    gensim_keep = np.array(
        [model.wv.get_vecattr(w, "sample_int") for w in model.wv.index_to_key]
    ) / (2**32 - 1)
    keep = ws.keep_probabilities(counts, 1e-2)
    assert keep.min() < 0.5  # the test exercises real subsampling
    np.testing.assert_allclose(keep, gensim_keep, atol=1e-9)  # uint32 rounding: 2.3e-10


def test_unigram_table_equals_gensims_cum_table():
    """Catches a wrong exponent (1 instead of 0.75) or an off-by-one cumulative sum."""
    model, counts = _gensim_vocab(sample=0)
    table = ws.unigram_table(counts)
    assert table.dtype == np.float32 and table[-1] == 1.0 and np.all(np.diff(table) > 0)
    domain = 2**31 - 1
    np.testing.assert_allclose(table * domain, model.cum_table, atol=300)  # float32: ~130
    np.testing.assert_allclose(ws.unigram_table(np.array([1, 16]), 0.75), [1 / 9, 1.0], rtol=1e-6)


def test_subsample_keeps_each_word_at_its_rate():
    keep = np.array([1.0, 0.25, 0.0])
    ids = np.repeat(np.arange(3), 40_000)
    kept = ws.subsample(np.random.default_rng(0), ids, keep)
    rates = np.bincount(kept, minlength=3) / 40_000
    np.testing.assert_allclose(rates, keep, atol=0.01)  # binomial sd 0.002
    assert np.all(np.diff(np.flatnonzero(np.isin(ids, kept))) > 0)  # order kept


def test_reduced_windows_are_uniform_on_1_to_window():
    windows = ws.reduced_windows(np.random.default_rng(0), 50_000, 5)
    assert windows.min() == 1 and windows.max() == 5
    np.testing.assert_allclose(np.bincount(windows)[1:] / 50_000, 0.2, atol=0.01)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ws.reduced_windows(np.random.default_rng(0), 3, 0), "window=0 must be >= 1"),
        (lambda: ws.keep_probabilities(np.array([3, 0]), 1e-3), "counts must be >= 1"),
        (lambda: ws.keep_probabilities(np.array([3]), -1.0), "sample=-1.0 must be"),
        (lambda: ws.unigram_table(np.array([], np.int64)), "non-empty 1-D integer"),
    ],
)
def test_bad_input_is_refused_in_one_sentence(call, message):
    with pytest.raises(ValueError, match=message):
        call()
