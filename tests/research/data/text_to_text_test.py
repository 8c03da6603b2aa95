"""Tests for research/data/text_to_text.py: the byte vocabulary's layout and round trip, encoded
pairs by hand (prefix, truncation with EOS kept, padding), label filtering, exact match on
hand-made generations (a prefix of the label, a longer string, padding after EOS) and the class
read back from generated text."""

import numpy as np
import pytest

from research.data import text_to_text as t2t
from research.text import special_tokens

VOCAB = t2t.ByteVocabulary(num_sentinels=4)  # bytes start at 5 + 4 = 9


def test_vocabulary_layout_and_round_trip():
    assert VOCAB.vocab_size == 9 + 256
    assert VOCAB.encode("Ab").tolist() == [9 + 65, 9 + 98]
    assert VOCAB.sentinel_ids().tolist() == [
        special_tokens.sentinel_id(i, 4) for i in range(4)
    ]  # the project tokenizers' sentinel ids, as span_corruption.project_sentinels
    text = "héllo, wörld ✓"
    assert VOCAB.decode(VOCAB.encode(text)) == text
    ids = np.concatenate([VOCAB.encode("ok"), [VOCAB.eos_id], VOCAB.encode("junk")])
    assert VOCAB.decode(ids) == "ok"  # stops at EOS
    assert VOCAB.decode([5, *VOCAB.encode("a"), 0]) == "a"  # specials dropped


def test_encode_pairs_by_hand():
    arrays = t2t.encode_pairs(
        VOCAB, ["abcdef", "x"], ["yes", "no"], max_input_len=4, max_target_len=5
    )
    eos, b = VOCAB.eos_id, lambda s: [9 + ord(c) for c in s]
    assert arrays["inputs"].tolist() == [b("abc") + [eos], b("x") + [eos, 0, 0]]
    assert arrays["targets"].tolist() == [b("yes") + [eos, 0], b("no") + [eos, 0, 0]]
    with pytest.raises(ValueError, match="takes 4 ids with EOS, more than max_target_len=3"):
        t2t.encode_pairs(VOCAB, ["a"], ["yes"], max_input_len=4, max_target_len=3)


def test_classification_arrays_prefix_and_filtering():
    arrays = t2t.classification_arrays(
        VOCAB,
        ["doc one", "doc two", "doc three"],
        ["json", "os", "email"],
        ["email", "json"],
        max_input_len=32,
        max_target_len=8,
    )
    assert arrays["label"].tolist() == [1, 0]  # 'os' is not a chosen class
    assert VOCAB.decode(arrays["inputs"][0]) == "classify: doc one"
    assert VOCAB.decode(arrays["targets"][1]) == "email"
    with pytest.raises(ValueError, match="No example has a label in"):
        t2t.classification_arrays(VOCAB, ["a"], ["b"], ["c"], max_input_len=4, max_target_len=4)


def test_exact_match_and_predicted_classes():
    """Catches a metric that accepts a prefix of the label ('jso'), a longer string ('jsonx'),
    or compares the don't-care positions after EOS."""
    arrays = t2t.encode_pairs(
        VOCAB, ["", "", "", ""], ["json"] * 4, max_input_len=2, max_target_len=7
    )
    targets = arrays["targets"]
    eos = VOCAB.eos_id

    def gen(text, tail):
        ids = list(VOCAB.encode(text)) + [eos]
        return (ids + [tail] * 7)[:7]

    generated = np.array([gen("json", eos), gen("json", 77), gen("jso", eos), gen("jsonx", eos)])
    assert t2t.exact_match(generated, targets).tolist() == [True, True, False, False]
    classes = ["os", "json"]
    assert t2t.predicted_classes(VOCAB, generated, classes).tolist() == [1, 1, -1, -1]
