"""FastText n-grams and bucket ids: by hand and equal to gensim's, byte for byte and bucket for bucket."""

import numpy as np
import pytest

from research.embeddings import subword_ngrams as sn
from tests.reference_packages import import_reference

WORDS = ["where", "a", "ab", "naïve", "日本語", "straße", "x" * 12, "über_all"]


def test_ngrams_by_hand():
    assert sn.char_ngrams("ab", 1, 3) == [b"<a", b"<ab", b"a", b"ab", b"ab>", b"b", b"b>"]
    assert sn.char_ngrams("where", 3, 3) == [b"<wh", b"whe", b"her", b"ere", b"re>"]
    # Multi-byte characters are never split: 'é' is one character of two bytes.
    assert sn.char_ngrams("é", 2, 2) == ["<é".encode(), "é>".encode()]


def test_fnv1a_by_hand():
    assert sn.ft_hash(b"") == 2166136261
    assert sn.ft_hash(b"a") == 0xE40C292C  # the published FNV-1a 32-bit test vector
    # A byte >= 0x80 is sign-extended (fastText's C char): 0xe9 is xored as 0xFFFFFFE9.
    # Textbook FNV-1a gives 0x6C0B6C44 here.
    assert sn.ft_hash(b"\xe9") == ((2166136261 ^ 0xFFFFFFE9) * 16777619) % 2**32 == 0xEBF38B44


def test_ngrams_and_buckets_equal_gensims():
    """Catches byte-wise (not character-wise) n-grams, an unsigned-byte hash, or another order."""
    inner = import_reference("gensim.models.fasttext_inner")
    fasttext = import_reference("gensim.models.fasttext")
    for word in WORDS:
        assert sn.ft_hash(word.encode()) == inner.ft_hash_bytes(word.encode())
        for min_n, max_n in [(3, 6), (1, 2), (2, 4)]:
            assert sn.char_ngrams(word, min_n, max_n) == inner.compute_ngrams_bytes(
                word, min_n, max_n
            )
            want = fasttext.ft_ngram_hashes(word, min_n, max_n, 2_000_000)
            assert sn.ngram_buckets(word, min_n, max_n, 2_000_000) == want


def test_bucket_table_pads_with_mask():
    ids, mask = sn.bucket_table(["ab", "where"], 3, 3, 1000)
    assert ids.shape == mask.shape == (2, 5)
    np.testing.assert_array_equal(mask.sum(1), [2, 5])  # '<ab', 'ab>'; five for 'where'
    np.testing.assert_array_equal(ids[0, :2], sn.ngram_buckets("ab", 3, 3, 1000))
    np.testing.assert_array_equal(ids[0, 2:], 0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sn.char_ngrams("ab", 0, 3), "min_n=0 and max_n=3 must satisfy"),
        (lambda: sn.char_ngrams("ab", 4, 3), "min_n=4 and max_n=3 must satisfy"),
        (lambda: sn.ngram_buckets("ab", 3, 6, 0), "num_buckets=0 must be >= 1"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_compact_buckets_renumber_the_used_buckets():
    ids = np.array([[7, 3, 0], [3, 9, 9]])
    mask = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    rows, used = sn.compact_buckets(ids, mask)
    np.testing.assert_array_equal(used, [3, 7, 9])  # bucket 0 is only padding here: no row
    np.testing.assert_array_equal(rows, [[1, 0, 0], [0, 2, 2]])
    np.testing.assert_array_equal(used[rows][mask > 0], ids[mask > 0])
