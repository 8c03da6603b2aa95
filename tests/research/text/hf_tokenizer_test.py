"""Hugging Face byte-level BPE (GPT-2) and WordPiece (BERT): trained on a tiny corpus, fixed special
ids, lossless byte-level round trip, WordPiece normalization and <unk>, exact save/load."""

import numpy as np
import pytest

from research.text import hf_tokenizer as hft
from research.text import special_tokens as st
from research.text import tokenizers

CORPUS = [
    "The quick brown fox jumps over the lazy dog.\nA second line, with commas; and more.\n",
    "Tokenizers split text into pieces.\n\n  Indented  text\twith tabs.\n",
    "def f(x):\n    return x + 1  # code has spaces\n",
] * 8
TRICKY = [
    "  two spaces\n\n\tand a tab  ",
    "naïve café 東京 🙂",
    "<mask> and <extra_id_0> as text",
    "",
]
NUM_SENTINELS = 3


@pytest.fixture(scope="module")
def byte_bpe():
    return hft.train(CORPUS, st.NUM_FIXED + NUM_SENTINELS + 256 + 50, "byte_bpe", NUM_SENTINELS)


@pytest.fixture(scope="module")
def wordpiece():
    return hft.train(CORPUS, 200, "wordpiece", NUM_SENTINELS)


def test_special_ids_first_then_the_byte_alphabet(byte_bpe, wordpiece):
    for tok in (byte_bpe, wordpiece):
        vocab = tok.tokenizer.get_vocab()
        assert [vocab[s] for s in st.special_tokens(NUM_SENTINELS)] == list(range(8))
    # GPT-2's alphabet: 256 single-character symbols right after the specials.
    alphabet = [byte_bpe.tokenizer.id_to_token(i) for i in range(8, 8 + 256)]
    assert sorted(alphabet) == sorted(hft._byte_decoder())
    assert byte_bpe.vocab_size == 8 + 256 + 50


@pytest.mark.parametrize("text", TRICKY + CORPUS[:3])
def test_byte_bpe_is_lossless_with_exact_bytes(byte_bpe, text):
    ids = byte_bpe.encode(text)
    assert byte_bpe.decode(ids) == text
    assert not np.isin(ids, range(8)).any()  # '<mask>' in the text stays text
    counted, counts = byte_bpe.byte_counts(text)
    assert counted == ids.tolist() and sum(counts) == len(text.encode())


def test_byte_bpe_fallback_marks_split_characters(byte_bpe):
    ids = byte_bpe.encode("🙂")  # unseen: 4 single-byte symbols, all >= 0x80
    assert len(ids) == 4 and byte_bpe.fallback_mask()[ids].all()
    assert not byte_bpe.fallback_mask()[byte_bpe.encode("the fox")].any()


def test_wordpiece_normalizes_continues_and_knows_unknown(wordpiece):
    ids = wordpiece.encode("The FOX jumps 東")
    tokens = [wordpiece.tokenizer.id_to_token(i) for i in ids]
    assert tokens[:2] == ["the", "fox"] and tokens[-1] == st.UNK
    assert wordpiece.decode(ids) == "the fox jumps"  # lowercased; unk dropped as special
    assert wordpiece.fallback_mask()[ids].tolist() == [False] * (len(ids) - 1) + [True]
    # Bytes per token cover the original text, dropped whitespace included: a token runs to the
    # next token's start ('  The  ' = 7 bytes), the last one to the end ('Fox\t' = 4).
    text = "  The  Fox\t"
    _, counts = wordpiece.byte_counts(text)
    assert counts == [7, 4]
    _, stream_bytes = tokenizers.encode_documents_with_bytes(wordpiece, [text, " \n"])
    assert stream_bytes.tolist() == [7, 4, 0, 2]  # a document with no token: eos carries it


@pytest.mark.parametrize("kind", ["byte_bpe", "wordpiece"])
def test_save_load_is_exact(kind, byte_bpe, wordpiece, tmp_path):
    tok = {"byte_bpe": byte_bpe, "wordpiece": wordpiece}[kind]
    tok.save(tmp_path)
    loaded = tokenizers.load(tmp_path)
    assert type(loaded) is hft.HFTokenizer and loaded.config() == tok.config()
    for text in TRICKY + CORPUS[:3]:
        assert loaded.encode(text).tolist() == tok.encode(text).tolist()
    np.testing.assert_array_equal(loaded.token_bytes, tok.token_bytes)
