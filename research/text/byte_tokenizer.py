"""Byte-level tokenizer: UTF-8 bytes are the ids 0..255 and id 256 ends a document.

No vocabulary file and no unknown token: every string round-trips through `encode`/`decode`, so a
byte-level model's loss in nats per token is its loss in nats per byte (the end-of-document id adds
one target per document).
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ByteTokenizer:
    """Maps text to int32 ids: bytes 0..255, `eos_id` = 256, `vocab_size` = 257."""

    eos_id: int = 256
    vocab_size: int = 257

    def encode(self, text: str, add_eos: bool = False) -> np.ndarray:
        """UTF-8 bytes of `text` as ids, followed by `eos_id` when `add_eos`. Shape: int32 [T]."""
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
        if add_eos:
            ids = np.append(ids, np.int32(self.eos_id))
        return ids

    def decode(self, ids) -> str:
        """Text of `ids` (int [T]); ids outside 0..255 (eos) are dropped, bad UTF-8 becomes U+FFFD."""
        ids = np.asarray(ids).reshape(-1)
        data = ids[(ids >= 0) & (ids < 256)].astype(np.uint8).tobytes()
        return data.decode("utf-8", errors="replace")

    def encode_documents(self, texts) -> np.ndarray:
        """One stream of all `texts`, each followed by `eos_id`. Shape: int32 [sum(len_i + 1)]."""
        parts = [self.encode(text, add_eos=True) for text in texts]
        if not parts:
            return np.zeros([0], np.int32)
        return np.concatenate(parts)
