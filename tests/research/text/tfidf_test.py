"""The JAX TF-IDF core on a 3-document corpus computed by hand, sharded == unsharded, padding.

Corpus (vocabulary cat=0, dog=1, the=2):  d0 = "the cat the",  d1 = "the dog",  d2 = "the cat dog".
  df = [2, 2, 3], n = 3.  Smoothed idf: cat, dog: ln(4 / 3) + 1 = 1.2876820724517808; the: ln(4/4) + 1 = 1.
  d0 weights (cat 1 * 1.28768, the 2 * 1) / sqrt(1.28768^2 + 2^2) = (0.54134281, 0.84080197)
  d1 (dog 1.28768, the 1) / 1.63046 = (0.78980693, 0.61335554)
  d2 (1.28768, 1.28768, 1) / 2.07756 = (0.61980538, 0.61980538, 0.48133417)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.sharding.mesh import make_mesh
from research.text import tfidf

ROWS = np.array([0, 0, 1, 1, 2, 2, 2], np.int32)
COLS = np.array([0, 2, 1, 2, 0, 1, 2], np.int32)
COUNTS = np.array([1, 2, 1, 1, 1, 1, 1], np.float32)
IDF_CAT = 1.2876820724517808
EXPECTED_L2 = [0.5413428136679054, 0.8408019731721111, 0.7898069290660905, 0.6133555370249717,
               0.6198053799406072, 0.6198053799406072, 0.48133416873660545]  # fmt: skip


def test_document_frequency_counts_documents_not_occurrences():
    # Bug caught: summing counts ('the' occurs 4 times) instead of counting documents (3).
    df = tfidf.document_frequency(COLS, COUNTS, num_terms=4)
    np.testing.assert_array_equal(df, [2, 2, 3, 0])


def test_idf_forms_by_hand():
    df = jnp.array([2.0, 2.0, 3.0])
    smooth = tfidf.inverse_document_frequency(df, 3)
    np.testing.assert_allclose(smooth, [IDF_CAT, IDF_CAT, 1.0], rtol=1e-6)
    # Textbook: no +1, so 'the' (in every document) weighs exactly 0; unsmoothed ln(3 / 2).
    textbook = tfidf.inverse_document_frequency(df, 3, smooth_idf=False, idf_form="textbook")
    np.testing.assert_allclose(textbook, [0.4054651081081644, 0.4054651081081644, 0.0], atol=1e-7)
    raw = tfidf.inverse_document_frequency(df, 3, smooth_idf=False)
    np.testing.assert_allclose(raw, [1.4054651081081644, 1.4054651081081644, 1.0], rtol=1e-6)


def test_tfidf_values_by_hand_l2_l1_and_sublinear():
    idf = jnp.array([IDF_CAT, IDF_CAT, 1.0])
    l2 = tfidf.tfidf_values(ROWS, COLS, COUNTS, idf, num_docs=3)
    np.testing.assert_allclose(l2, EXPECTED_L2, rtol=1e-6)
    l1 = tfidf.tfidf_values(ROWS, COLS, COUNTS, idf, num_docs=3, norm="l1")
    np.testing.assert_allclose(l1[:2], [0.3916686723578156, 0.6083313276421843], rtol=1e-6)
    # Sublinear tf: the count 2 becomes 1 + ln 2; no norm, no idf: the raw tf values.
    raw = tfidf.tfidf_values(ROWS, COLS, COUNTS, None, 3, sublinear_tf=True, norm=None)
    np.testing.assert_allclose(raw, [1, 1 + np.log(2), 1, 1, 1, 1, 1], rtol=1e-6)


def test_padding_entries_change_nothing():
    # Bug caught: padding (row = num_docs, count 0) leaking into a row norm or a df.
    pad = lambda a, v: np.concatenate([a, np.full(5, v, a.dtype)])  # noqa: E731
    rows, cols, counts = pad(ROWS, 3), pad(COLS, 2), pad(COUNTS, 0)
    idf = jnp.array([IDF_CAT, IDF_CAT, 1.0])
    values = tfidf.tfidf_values(rows, cols, counts, idf, num_docs=3, sublinear_tf=True)
    assert np.all(np.isfinite(values)) and np.all(np.asarray(values)[7:] == 0)
    np.testing.assert_array_equal(tfidf.document_frequency(cols, counts, 3), [2, 2, 3])


def test_float64_host_path_matches_hand_values_to_1e_15():
    idf = np.array([IDF_CAT, IDF_CAT, 1.0])
    values = tfidf.tfidf_values_host(ROWS, COLS, COUNTS.astype(np.float64), idf, 3, np.float64)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, EXPECTED_L2, rtol=1e-15)


@pytest.mark.timeout(120)
def test_sharded_over_8_devices_equals_unsharded():
    rng = np.random.default_rng(0)
    num_docs, num_terms, nnz = 37, 50, 8 * 40
    rows = np.sort(rng.integers(0, num_docs, nnz)).astype(np.int32)
    cols = rng.integers(0, num_terms, nnz).astype(np.int32)
    counts = rng.integers(1, 5, nnz).astype(np.float32)
    idf = tfidf.inverse_document_frequency(
        tfidf.document_frequency(cols, counts, num_terms), num_docs
    )
    mesh = make_mesh()
    assert mesh.devices.size == 8
    sharded = tfidf.sharded_tfidf_values(mesh, rows, cols, counts, idf, num_docs, True, "l2")
    assert len(sharded.sharding.device_set) == 8
    plain = tfidf.tfidf_values(rows, cols, counts, idf, num_docs, True, "l2")
    np.testing.assert_allclose(jax.device_get(sharded), plain, rtol=1e-6)
    host = tfidf.tfidf_values_host(rows, cols, counts, idf, num_docs, np.float32, True, mesh=mesh)
    np.testing.assert_allclose(host, plain, rtol=1e-6)


def test_bad_arguments_are_one_sentence_errors():
    with pytest.raises(ValueError, match="norm='l3' is not one of"):
        tfidf.tfidf_values(ROWS, COLS, COUNTS, None, 3, norm="l3")
    with pytest.raises(ValueError, match="idf_form='bm25' is not one of"):
        tfidf.inverse_document_frequency(jnp.ones(3), 3, idf_form="bm25")
    with pytest.raises(ValueError, match="do not split evenly over 8 devices"):
        tfidf.sharded_tfidf_values(make_mesh(), ROWS, COLS, COUNTS, None, 3)
