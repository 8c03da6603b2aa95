"""Byte-level text: the vocabulary must fit the model, and windows cut one EOS-separated stream."""

import ml_collections
import numpy as np
import pytest

from research.data.text_to_text import ByteVocabulary
from research.tasks.byte_text import byte_vocabulary, windows


def _config(vocab_size: int, num_sentinels: int = 32):
    return ml_collections.ConfigDict(
        {"data": {"num_sentinels": num_sentinels}, "model": {"vocab_size": vocab_size}}
    )


def test_vocabulary_must_fit_the_model():
    assert byte_vocabulary(_config(293)) == ByteVocabulary(num_sentinels=32)
    assert byte_vocabulary(_config(300, num_sentinels=2)).vocab_size == 263
    with pytest.raises(ValueError, match="needs 293 ids but the model has vocab_size=100"):
        byte_vocabulary(_config(100))


def test_windows_cut_the_eos_separated_stream_by_hand():
    vocab = ByteVocabulary(num_sentinels=0)  # byte b has id 5 + b
    a, b, c, eos = 5 + ord("a"), 5 + ord("b"), 5 + ord("c"), vocab.eos_id
    # stream: a b EOS c EOS a EOS (7 ids) -> two windows of 3, the tail id dropped
    np.testing.assert_array_equal(windows(vocab, ["ab", "c", "a"], 3), [[a, b, eos], [c, eos, a]])
    assert windows(vocab, ["ab", "c", "a"], 3).dtype == np.int32
    np.testing.assert_array_equal(windows(vocab, ["ab", "c", "a"], 2, limit=1), [[a, b]])
