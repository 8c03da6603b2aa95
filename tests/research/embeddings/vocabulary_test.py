import collections

import numpy as np
import pytest

from research.embeddings.vocabulary import Vocabulary

SENTENCES = [["b", "a", "b"], ["c", "a", "d"], ["a", "e"]]


def test_build_hand_example_orders_by_count_then_first_appearance():
    # a: 3, b: 2, then c, d, e once each in the order they first appear.
    vocab = Vocabulary.build(SENTENCES, min_count=1)
    assert vocab.words == ("a", "b", "c", "d", "e")
    np.testing.assert_array_equal(vocab.counts, [3, 2, 1, 1, 1])
    assert vocab.counts.dtype == np.int64


def test_min_count_and_max_size_cut_the_tail():
    assert Vocabulary.build(SENTENCES, min_count=2).words == ("a", "b")
    assert Vocabulary.build(SENTENCES, min_count=1, max_size=3).words == ("a", "b", "c")


def test_matches_collections_counter_on_a_random_corpus():
    # Catches a lost count (e.g. only the first sentence counted) or an unstable tie order.
    rng = np.random.default_rng(0)
    zipf = 1 / np.arange(1, 201)
    sentences = [
        [f"w{i}" for i in rng.choice(200, size=rng.integers(1, 30), p=zipf / zipf.sum())]
        for _ in range(300)
    ]
    vocab = Vocabulary.build(iter(sentences), min_count=3)
    counter = collections.Counter(w for s in sentences for w in s)
    first = {}
    for w in (w for s in sentences for w in s):
        first.setdefault(w, len(first))
    expected = sorted(
        (w for w, c in counter.items() if c >= 3), key=lambda w: (-counter[w], first[w])
    )
    assert vocab.words == tuple(expected)
    np.testing.assert_array_equal(vocab.counts, [counter[w] for w in expected])


def test_index_and_encode_drop_out_of_vocabulary_words():
    vocab = Vocabulary.build(SENTENCES, min_count=2)
    assert vocab.index("a") == 0 and vocab.index("b") == 1 and vocab.index("zzz") is None
    assert "a" in vocab and "c" not in vocab and len(vocab) == 2
    ids = vocab.encode(["c", "b", "zzz", "a", "b"])
    np.testing.assert_array_equal(ids, [1, 0, 1])
    assert ids.dtype == np.int32
    assert vocab.encode([]).shape == (0,)


def test_empty_vocabulary_is_one_sentence():
    with pytest.raises(ValueError, match=r"no word occurs at least min_count=4 times among the 5"):
        Vocabulary.build(SENTENCES, min_count=4)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"min_count": 0}, "min_count=0 must be at least 1"), ({"max_size": 0}, "max_size=0")],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.build(SENTENCES, **kwargs)


def test_untokenized_sentences_are_refused():
    # A list of strings would otherwise count characters.
    with pytest.raises(ValueError, match="not a sequence of words"):
        Vocabulary.build(["a sentence", "another one"], min_count=1)
    with pytest.raises(ValueError, match="pass a sequence of words"):
        Vocabulary.build(SENTENCES, min_count=1).encode("a b")


def test_constructor_refuses_mismatched_or_repeated_words():
    with pytest.raises(ValueError, match="one count per word"):
        Vocabulary(("a", "b"), np.array([1]))
    with pytest.raises(ValueError, match="only 1 distinct"):
        Vocabulary(("a", "a"), np.array([1, 1]))


def test_save_load_round_trip_is_exact_and_atomic(tmp_path):
    vocab = Vocabulary.build([["héllo", "wörld", "héllo"], ["x"]], min_count=1)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert Vocabulary.load(path) == vocab
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]  # no temp file left


def test_load_refuses_a_file_that_is_not_a_vocabulary(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"words": ["a"]}')
    with pytest.raises(ValueError, match="is not a vocabulary file"):
        Vocabulary.load(path)
    path.write_text('{"words": ["a"], "counts": [1.5]}')
    with pytest.raises(ValueError, match="integer counts"):
        Vocabulary.load(path)
