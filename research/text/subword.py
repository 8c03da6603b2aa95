"""The interface every trained tokenizer shares: encode, decode, vocab_size, special ids, bytes per
token, save(dir) / load(dir).

A trained tokenizer is saved as a folder beside the model (the LM saves it in its workdir): the
library's own model file plus `tokenizer_config.json` (kind, vocab_size, num_sentinels and what it
was trained on), so `research.text.tokenizers.load(dir)` rebuilds it exactly, never retraining.
Special ids follow `special_tokens.py` (pad 0, bos 1, eos 2, unk 3, mask 4, sentinels from 5).
"""

import abc
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from research.text import special_tokens

CONFIG_FILE = "tokenizer_config.json"


def training_lines(texts: Iterable[str]) -> Iterator[str]:
    """The non-empty lines of `texts`: what the trainers read (newlines are a token of their own)."""
    for text in texts:
        for line in text.split("\n"):
            if line.strip():
                yield line


class SubwordTokenizer(abc.ABC):
    """A trained tokenizer with the fixed special-id layout of `special_tokens.py`."""

    kind: str  # 'sentencepiece_bpe', 'sentencepiece_unigram', 'byte_bpe' or 'wordpiece'
    model_file: str  # the library's file inside a saved folder

    pad_id, bos_id, eos_id, unk_id, mask_id = (
        special_tokens.PAD_ID, special_tokens.BOS_ID, special_tokens.EOS_ID,
        special_tokens.UNK_ID, special_tokens.MASK_ID,
    )  # fmt: skip

    def __init__(self, num_sentinels: int, info: dict | None = None):
        self.num_sentinels = num_sentinels
        self.info = dict(info or {})  # what it was trained on and with: saved with it

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ids: every id is in [0, vocab_size)."""

    @abc.abstractmethod
    def _encode(self, text: str) -> list[int]:
        """Ids of `text` (no bos/eos)."""

    @abc.abstractmethod
    def decode(self, ids) -> str:
        """Text of `ids` (int [T]); special ids are dropped."""

    @abc.abstractmethod
    def byte_counts(self, text: str) -> tuple[list[int], list[int]]:
        """Ids of `text` and the UTF-8 bytes of `text` each one stands for (sum <= bytes of text;
        whitespace a lossy tokenizer drops counts for the token after it)."""

    @abc.abstractmethod
    def fallback_mask(self) -> np.ndarray:
        """bool [vocab_size]: the ids that mark text the vocabulary does not cover (unknown or byte
        fallback; see each tokenizer's docstring)."""

    @abc.abstractmethod
    def _save_model(self, directory: Path) -> None: ...

    def sentinel_id(self, i: int) -> int:
        return special_tokens.sentinel_id(i, self.num_sentinels)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> np.ndarray:
        """Ids of `text`, after `bos_id` / followed by `eos_id` when asked. Shape: int32 [T]."""
        ids = ([self.bos_id] if add_bos else []) + self._encode(text)
        return np.asarray(ids + ([self.eos_id] if add_eos else []), np.int32)

    def encode_documents(self, texts) -> np.ndarray:
        """One stream of all `texts`, each followed by `eos_id`. Shape: int32 [sum(len_i + 1)]."""
        parts = [self.encode(text, add_eos=True) for text in texts]
        return np.concatenate(parts) if parts else np.zeros([0], np.int32)

    def config(self) -> dict:
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "num_sentinels": self.num_sentinels,
            **self.info,
        }

    def save(self, directory) -> Path:
        """Writes the model file and tokenizer_config.json into `directory` (created)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_model(directory)
        (directory / CONFIG_FILE).write_text(json.dumps(self.config(), indent=2, sort_keys=True))
        return directory


def check_vocab_size(kind: str, vocab_size: int, num_sentinels: int, reserved: int) -> None:
    """Refuse a vocabulary that the special tokens and the base alphabet already fill."""
    minimum = special_tokens.NUM_FIXED + num_sentinels + reserved + 1
    if vocab_size < minimum:
        raise ValueError(
            f"vocab_size={vocab_size} is too small for a {kind} tokenizer: its "
            f"{special_tokens.NUM_FIXED + num_sentinels} special tokens and {reserved} base "
            f"symbols leave no room to learn; pass vocab_size >= {minimum}."
        )
