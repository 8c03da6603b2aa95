"""SentencePiece tokenizers (BPE and unigram, Kudo & Richardson 2018), trained offline on a corpus
with `sentencepiece.SentencePieceTrainer` and byte fallback: no text is ever unknown.

Lossless by construction: identity normalization, no dummy prefix, no collapsing of whitespace, so
decode(encode(x)) == x for any string (spaces are the piece '▁', '\\n' is a piece of its own, and
characters outside the vocabulary become their UTF-8 bytes <0x00>..<0xFF>). Ids: the special
layout of `special_tokens.py`, then '\\n', the 256 byte pieces, then the learned pieces.
The vocabulary may come out smaller than asked on a small corpus (hard_vocab_limit=False);
`vocab_size` is what was learned. `fallback_mask` marks the byte pieces and <unk>.
"""

import io
from pathlib import Path

import numpy as np
import sentencepiece as spm

from research.text import special_tokens
from research.text.subword import SubwordTokenizer, check_vocab_size, training_lines

MODEL_TYPES = ("bpe", "unigram")
NUM_BYTES = 256


class SentencePieceTokenizer(SubwordTokenizer):
    model_file = "sentencepiece.model"

    def __init__(self, model_proto: bytes, model_type: str, num_sentinels: int, info=None):
        super().__init__(num_sentinels, info)
        self.kind = f"sentencepiece_{model_type}"
        self.model_type = model_type
        self.model_proto = model_proto
        self.processor = spm.SentencePieceProcessor(model_proto=model_proto)
        pieces = [self.processor.id_to_piece(i) for i in range(self.vocab_size)]
        self._is_byte = np.array([self.processor.is_byte(i) for i in range(self.vocab_size)])
        special = np.array(
            [
                self.processor.is_control(i) or self.processor.is_unknown(i)
                for i in range(len(pieces))
            ]
        )
        lengths = [len(p.replace("\u2581", " ").encode()) for p in pieces]
        self.token_bytes = np.where(self._is_byte, 1, np.where(special, 0, lengths)).astype(
            np.int32
        )

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    def _encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def decode(self, ids) -> str:
        # Control ids (pad, bos, eos, mask, sentinels) decode to nothing; <unk> to ' \u2047 '.
        return self.processor.decode([int(i) for i in np.asarray(ids).reshape(-1)])

    def byte_counts(self, text: str) -> tuple[list[int], list[int]]:
        ids = self._encode(text)
        return ids, self.token_bytes[ids].tolist()

    def fallback_mask(self) -> np.ndarray:
        mask = self._is_byte.copy()
        mask[self.unk_id] = True
        return mask

    def _save_model(self, directory: Path) -> None:
        (directory / self.model_file).write_bytes(self.model_proto)

    @classmethod
    def load(cls, directory: Path, config: dict) -> "SentencePieceTokenizer":
        info = {k: v for k, v in config.items() if k not in ("kind", "vocab_size", "num_sentinels")}
        model_type = config["kind"].removeprefix("sentencepiece_")
        proto = (Path(directory) / cls.model_file).read_bytes()
        return cls(proto, model_type, config["num_sentinels"], info)


def train(
    texts,
    vocab_size: int,
    model_type: str = "bpe",
    num_sentinels: int = special_tokens.DEFAULT_NUM_SENTINELS,
    info: dict | None = None,
) -> SentencePieceTokenizer:
    """Trains on the non-empty lines of `texts` (an iterable of documents) in memory.

    `vocab_size` counts every id (specials, '\\n', 256 bytes and learned pieces).
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type={model_type!r} is unknown; use one of {MODEL_TYPES}.")
    check_vocab_size(f"sentencepiece_{model_type}", vocab_size, num_sentinels, NUM_BYTES + 1)
    specials = special_tokens.special_tokens(num_sentinels)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=training_lines(texts),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # a small corpus may not fill the vocabulary: keep what it has
        byte_fallback=True,
        character_coverage=0.9995,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_digits=False,
        max_sentence_length=1 << 16,
        pad_id=special_tokens.PAD_ID,
        bos_id=special_tokens.BOS_ID,
        eos_id=special_tokens.EOS_ID,
        unk_id=special_tokens.UNK_ID,
        pad_piece=special_tokens.PAD,
        bos_piece=special_tokens.BOS,
        eos_piece=special_tokens.EOS,
        unk_piece=special_tokens.UNK,
        control_symbols=specials[special_tokens.NUM_FIXED - 1 :],  # mask and sentinels
        user_defined_symbols=["\n"],
        num_threads=2,
        minloglevel=2,
    )
    return SentencePieceTokenizer(model.getvalue(), model_type, num_sentinels, info)
