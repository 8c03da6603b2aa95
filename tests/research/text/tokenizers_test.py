"""Tokenizers by name: every kind trains, saves and reloads; bytes per token for nats per byte."""

import numpy as np
import pytest

from research.text import tokenizers
from research.text.byte_tokenizer import ByteTokenizer

CORPUS = ["The quick brown fox jumps over the lazy dog.\n", "Pieces of text, pieces of code.\n"] * 8


@pytest.mark.parametrize("kind", tokenizers.KINDS)
def test_every_kind_trains_saves_and_reloads(kind, tmp_path):
    tok = tokenizers.train(kind, CORPUS, vocab_size=300, num_sentinels=2, info={"data": "x"})
    tokenizers.save(tok, tmp_path)
    loaded = tokenizers.load(tmp_path)
    assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
    assert tokenizers.saved_config(tmp_path)["kind"] == kind
    text = "The lazy fox, again.\n"
    assert loaded.encode(text).tolist() == tok.encode(text).tolist()
    ids, counts = tokenizers.encode_documents_with_bytes(loaded, [text, "ok"])
    assert ids.tolist() == loaded.encode_documents([text, "ok"]).tolist()
    assert counts.sum() == len(text) + 2 and ids[counts == 0].tolist() == [loaded.eos_id] * 2


def test_byte_token_bytes():
    bytes_per_id = tokenizers.token_bytes(ByteTokenizer())
    assert bytes_per_id.shape == (257,) and bytes_per_id[:256].min() == 1 and bytes_per_id[256] == 0
    ids, counts = tokenizers.encode_documents_with_bytes(ByteTokenizer(), ["é"])
    assert ids.tolist() == [195, 169, 256] and counts.tolist() == [1, 1, 0]


def test_unknown_kind_and_missing_folder_are_one_sentence(tmp_path):
    with pytest.raises(ValueError, match=r"^tokenizer kind 'bpe' is unknown; use one of \['bytes'"):
        tokenizers.train("bpe", CORPUS, 300, 0)
    with pytest.raises(ValueError, match=r"holds no saved tokenizer \(tokenizer_config.json is"):
        tokenizers.load(tmp_path)
    assert tokenizers.saved_config(tmp_path) is None
    np.testing.assert_array_equal(tokenizers.token_bytes(ByteTokenizer())[:2], [1, 1])
