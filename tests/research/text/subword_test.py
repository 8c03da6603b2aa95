"""Tests for research/text/subword.py: the shared tokenizer interface, on a tiny concrete subclass."""

import json

import numpy as np
import pytest

from research.text import special_tokens, subword


class LetterTokenizer(subword.SubwordTokenizer):
    """Ids after the special ones: 'a' -> first free id, 'b' -> the next, ... (26 letters)."""

    kind = "letters"
    model_file = "letters.txt"

    @property
    def first(self) -> int:
        return special_tokens.NUM_FIXED + self.num_sentinels

    @property
    def vocab_size(self) -> int:
        return self.first + 26

    def _encode(self, text):
        return [self.first + ord(c) - ord("a") for c in text]

    def decode(self, ids):
        return "".join(chr(ord("a") + i - self.first) for i in ids if i >= self.first)

    def byte_counts(self, text):
        return self._encode(text), [1] * len(text)

    def fallback_mask(self):
        return np.zeros([self.vocab_size], bool)

    def _save_model(self, directory):
        (directory / self.model_file).write_text("abcdefghijklmnopqrstuvwxyz")


def test_training_lines_split_on_newlines_and_drop_blank_lines():
    assert list(subword.training_lines(["ab\n\n  \ncd", "", "e\n"])) == ["ab", "cd", "e"]


def test_encode_adds_bos_and_eos_only_when_asked():
    tok = LetterTokenizer(num_sentinels=2)
    first = special_tokens.NUM_FIXED + 2
    assert tok.encode("ba").tolist() == [first + 1, first]
    assert tok.encode("ba", add_bos=True, add_eos=True).tolist() == [
        special_tokens.BOS_ID, first + 1, first, special_tokens.EOS_ID,
    ]  # fmt: skip
    assert tok.encode("a").dtype == np.int32


def test_encode_documents_ends_each_document_with_eos():
    tok = LetterTokenizer(num_sentinels=0)
    first = special_tokens.NUM_FIXED
    stream = tok.encode_documents(["ab", "", "c"])
    eos = special_tokens.EOS_ID
    assert stream.tolist() == [first, first + 1, eos, eos, first + 2, eos]
    assert tok.encode_documents([]).shape == (0,)


def test_special_ids_and_sentinels_follow_the_fixed_layout():
    tok = LetterTokenizer(num_sentinels=3)
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert [tok.sentinel_id(i) for i in range(3)] == [5, 6, 7]


def test_save_writes_the_model_and_the_config(tmp_path):
    tok = LetterTokenizer(num_sentinels=1, info={"trained_on": "letters"})
    folder = tok.save(tmp_path / "new" / "tok")
    config = json.loads((folder / subword.CONFIG_FILE).read_text())
    assert config == {
        "kind": "letters", "vocab_size": special_tokens.NUM_FIXED + 1 + 26,
        "num_sentinels": 1, "trained_on": "letters",
    }  # fmt: skip
    assert (folder / "letters.txt").read_text().startswith("abc")


def test_a_vocabulary_the_specials_fill_is_refused():
    # 5 fixed + 2 sentinels + 256 base bytes leave nothing to learn below 264.
    subword.check_vocab_size("byte_bpe", 264, num_sentinels=2, reserved=256)
    with pytest.raises(ValueError, match=r"vocab_size=263 is too small .* pass vocab_size >= 264"):
        subword.check_vocab_size("byte_bpe", 263, num_sentinels=2, reserved=256)
