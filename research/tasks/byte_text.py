"""Byte-level text for the T5 and GPT experiments: the byte vocabulary a config asks for, and a
corpus cut into fixed-length windows of its ids.

Config keys read: data.num_sentinels (the sentinel ids after the fixed special ids),
model.vocab_size (must hold every id of the vocabulary).
"""

import numpy as np

from research.data.text_to_text import ByteVocabulary


def byte_vocabulary(config) -> ByteVocabulary:
    """The `ByteVocabulary` with data.num_sentinels sentinels, checked against model.vocab_size."""
    vocab = ByteVocabulary(num_sentinels=config.data.num_sentinels)
    if vocab.vocab_size > config.model.vocab_size:
        raise ValueError(
            f"The byte vocabulary needs {vocab.vocab_size} ids but the model has vocab_size="
            f"{config.model.vocab_size}; raise --config.model.vocab_size."
        )
    return vocab


def windows(vocab: ByteVocabulary, texts, length: int, limit: int | None = None) -> np.ndarray:
    """The texts as one id stream (each document + EOS) cut into windows, the tail dropped.

    Shape: int32 [N, length], N = min(limit, stream length // length) (limit None: no limit).
    """
    stream = np.concatenate([np.append(vocab.encode(t), vocab.eos_id) for t in texts])
    n = len(stream) // length if limit is None else min(limit, len(stream) // length)
    return stream[: n * length].reshape(n, length).astype(np.int32)
