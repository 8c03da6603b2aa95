"""Tests for research/embeddings/cooccurrence.py: exact 1/d counts, chunking, shards, files, batches."""

import numpy as np
import pytest

from research.embeddings import cooccurrence
from research.embeddings.cooccurrence import count, row_block


def _brute_force(sentences, vocab_size, window) -> np.ndarray:
    """The definition as a double loop: X[w_i, w_j] += 1 / |i - j| for 0 < |i - j| <= window."""
    x = np.zeros((vocab_size, vocab_size))
    for s in sentences:
        for i in range(len(s)):
            for j in range(len(s)):
                if 0 < abs(i - j) <= window:
                    x[s[i], s[j]] += 1.0 / abs(i - j)
    return x


def _random_sentences(seed, n=60, vocab_size=17):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab_size, rng.integers(0, 12)) for _ in range(n)]


def test_hand_example_exact_values_in_both_directions():
    # Sentence "a b c a" = ids [0, 1, 2, 0], window 2; sentence "b b" = [1, 1] (a word beside itself).
    x = count([np.array([0, 1, 2, 0]), np.array([1, 1])], vocab_size=3, window=2).to_dense()
    # a-b: positions (0,1) d=1 -> 1; (3,1) d=2 -> 1/2.   a-c: (0,2) d=2 -> 1/2; (3,2) d=1 -> 1.
    # b-c: (1,2) d=1 -> 1.   a-a: (0,3) d=3 > window -> 0.   b-b: "b b" d=1, both directions -> 2.
    expected = np.array(
        [
            [0.0, 1.5, 1.5],
            [1.5, 2.0, 1.0],
            [1.5, 1.0, 0.0],
        ]
    )
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(x, _brute_force([[0, 1, 2, 0], [1, 1]], 3, 2))


def test_windows_do_not_cross_sentences():
    # Bug caught: concatenating the chunk's sentences and pairing across their boundary.
    x = count([np.array([0]), np.array([1])], vocab_size=2, window=5).to_dense()
    np.testing.assert_array_equal(x, np.zeros((2, 2)))


@pytest.mark.parametrize("window", [1, 3, 5])
def test_random_corpus_equals_the_double_loop_and_is_symmetric(window):
    sentences = _random_sentences(window)
    x = count(sentences, 17, window).to_dense()
    np.testing.assert_allclose(x, _brute_force(sentences, 17, window), rtol=1e-12)
    np.testing.assert_allclose(x, x.T, rtol=1e-12)


def test_chunked_build_equals_one_shot_build():
    sentences = _random_sentences(7)
    one = count(sentences, 17, 4, chunk_tokens=10**9)
    for chunk in (1, 7, 50):
        many = count(iter(sentences), 17, 4, chunk_tokens=chunk)
        np.testing.assert_array_equal(many.rows, one.rows)
        np.testing.assert_array_equal(many.cols, one.cols)
        np.testing.assert_allclose(many.values, one.values, rtol=1e-12)


def test_entries_are_sorted_positive_and_typed():
    matrix = count(_random_sentences(3), 17, 3)
    order = np.lexsort((matrix.cols, matrix.rows))
    np.testing.assert_array_equal(order, np.arange(len(matrix)))
    assert (matrix.values > 0).all()
    assert matrix.rows.dtype == np.int32 and matrix.cols.dtype == np.int32
    assert matrix.values.dtype == np.float64


@pytest.mark.parametrize("shards", [1, 2, 3, 5])
def test_shards_partition_the_matrix_exactly(shards):
    sentences = _random_sentences(11)
    full = count(sentences, 17, 3).to_dense()
    blocks = [row_block(17, i, shards) for i in range(shards)]
    assert blocks[0][0] == 0 and blocks[-1][1] == 17
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))  # contiguous
    total = np.zeros_like(full)
    for i in range(shards):
        part = count(sentences, 17, 3, shard_index=i, shard_count=shards)
        lo, hi = part.row_range
        assert (part.rows >= lo).all() and (part.rows < hi).all()
        dense = part.to_dense()
        np.testing.assert_allclose(dense[lo:hi], full[lo:hi], rtol=1e-12)
        total += dense
    np.testing.assert_allclose(total, full, rtol=1e-12)  # no entry lost or held twice


def test_row_blocks_match_an_even_table_split():
    assert [row_block(10, i, 4) for i in range(4)] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert [row_block(2, i, 4) for i in range(4)] == [(0, 1), (1, 2), (2, 2), (2, 2)]


def test_bad_input_is_one_sentence():
    with pytest.raises(ValueError, match=r"window=0 must be at least 1"):
        count([np.array([0, 1])], 2, 0)
    with pytest.raises(ValueError, match=r"vocab_size=0 must be at least 1"):
        count([], 0, 2)
    with pytest.raises(ValueError, match=r"word ids must lie in \[0, 2\)"):
        count([np.array([0, 2])], 2, 2)
    with pytest.raises(ValueError, match=r"pass 1-D integer word ids"):
        count([np.array([0.5, 1.0])], 2, 2)
    with pytest.raises(ValueError, match=r"shard_index=2 must be in \[0, shard_count=2\)"):
        row_block(5, 2, 2)


def test_save_load_round_trip_and_build_or_load_reuses_a_matching_file(tmp_path):
    sentences = _random_sentences(5)
    path = tmp_path / "x.npz"
    calls = []

    def sentences_fn():
        calls.append(1)
        return iter(sentences)

    built = cooccurrence.build_or_load(path, sentences_fn, 17, 3, key="corpus-a")
    again = cooccurrence.build_or_load(path, sentences_fn, 17, 3, key="corpus-a")
    assert len(calls) == 1  # the second call read the file: a resume does not count again
    for name in ("rows", "cols", "values"):
        np.testing.assert_array_equal(getattr(again, name), getattr(built, name))
    assert again.row_range == built.row_range == (0, 17)
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary file left behind
    cooccurrence.build_or_load(path, sentences_fn, 17, 3, key="corpus-b")
    assert len(calls) == 2  # a different key (corpus, vocabulary, window) counts again
    loaded, key = cooccurrence.load(path)
    assert key == "corpus-b"


def test_train_iterator_draws_every_entry_once_per_epoch_and_resumes():
    matrix = count(_random_sentences(9), 17, 3)
    n = len(matrix)
    b = 8
    it = cooccurrence.train_iterator(matrix, batch_size=b, seed=3)
    per_epoch = n // b
    seen = [next(it) for _ in range(per_epoch)]
    keys = np.concatenate([x["rows"].astype(np.int64) * 17 + x["cols"] for x in seen])
    assert len(np.unique(keys)) == per_epoch * b  # no entry twice in an epoch
    dense = matrix.to_dense()
    for x in seen:
        assert x["counts"].dtype == np.float32
        np.testing.assert_allclose(x["counts"], dense[x["rows"], x["cols"]], rtol=1e-6)
    state = it.get_state()
    following = next(it)
    fresh = cooccurrence.train_iterator(matrix, batch_size=b, seed=3)
    fresh.set_state(state)
    restored = next(fresh)
    for name in ("rows", "cols", "counts"):
        np.testing.assert_array_equal(restored[name], following[name])
    with pytest.raises(ValueError, match=r"batch_size=100000 must be in \[1, "):
        cooccurrence.train_iterator(matrix, batch_size=100_000, seed=0)
