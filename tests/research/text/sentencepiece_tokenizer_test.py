"""SentencePiece BPE and unigram: trained on a tiny corpus, lossless, byte fallback, fixed special
ids, exact bytes per token, and saved/loaded bit for bit."""

import numpy as np
import pytest

from research.text import sentencepiece_tokenizer as spt
from research.text import special_tokens as st

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
VOCAB = st.NUM_FIXED + NUM_SENTINELS + 1 + 256 + 40


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def tokenizer(request):
    return spt.train(CORPUS, VOCAB, request.param, NUM_SENTINELS, {"corpus": "tiny"})


def test_special_ids_newline_and_bytes_layout(tokenizer):
    processor = tokenizer.processor
    pieces = [processor.id_to_piece(i) for i in range(st.NUM_FIXED + NUM_SENTINELS + 2)]
    assert pieces == [*st.special_tokens(NUM_SENTINELS), "\n", "<0x00>"]
    assert tokenizer.kind in ("sentencepiece_bpe", "sentencepiece_unigram")
    assert tokenizer.vocab_size <= VOCAB
    assert tokenizer.sentinel_id(2) == 7
    assert tokenizer.encode("ab", add_bos=True, add_eos=True)[[0, -1]].tolist() == [1, 2]


@pytest.mark.parametrize("text", TRICKY + CORPUS[:3])
def test_lossless_and_bytes_per_token_sum_to_the_text(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    # '<mask>' written in the text is text, not the mask id (4).
    assert not np.isin(ids, range(st.NUM_FIXED + NUM_SENTINELS)).any()
    counted_ids, counts = tokenizer.byte_counts(text)
    assert counted_ids == ids.tolist() and sum(counts) == len(text.encode())


def test_unseen_characters_fall_back_to_bytes(tokenizer):
    ids = tokenizer.encode("🙂")  # never in the corpus: its 4 UTF-8 bytes
    first_byte = st.NUM_FIXED + NUM_SENTINELS + 1
    assert ids.tolist() == [first_byte + b for b in "🙂".encode()]
    assert tokenizer.fallback_mask()[ids].all()
    assert not tokenizer.fallback_mask()[tokenizer.encode("the")].any()


def test_save_load_is_exact(tokenizer, tmp_path):
    from research.text import tokenizers

    tokenizer.save(tmp_path / "tok")
    loaded = tokenizers.load(tmp_path / "tok")
    assert loaded.model_proto == tokenizer.model_proto
    assert loaded.config() == tokenizer.config()
    assert loaded.config()["corpus"] == "tiny"
    for text in TRICKY + CORPUS[:3]:
        assert loaded.encode(text).tolist() == tokenizer.encode(text).tolist()


def test_too_small_vocabulary_is_refused():
    with pytest.raises(ValueError) as e:
        spt.train(CORPUS, 260, "bpe", NUM_SENTINELS)
    assert str(e.value) == (
        "vocab_size=260 is too small for a sentencepiece_bpe tokenizer: its 8 special tokens and "
        "257 base symbols leave no room to learn; pass vocab_size >= 266."
    )
