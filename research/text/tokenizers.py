"""Tokenizers by name for configs: train one on a corpus, save it beside the model, load it back.

Kinds: 'bytes' (`byte_tokenizer.ByteTokenizer`, nothing to train: the default), 'sentencepiece_bpe',
'sentencepiece_unigram', 'byte_bpe' (GPT-2 style) and 'wordpiece' (BERT style). Trained kinds share
the interface of `subword.SubwordTokenizer` and the special ids of `special_tokens.py`.

`encode_documents_with_bytes` gives every token the UTF-8 bytes of text it stands for, so a loss in
nats per token converts to nats per byte (summed nats / summed bytes), comparable across tokenizers.
"""

import json
from pathlib import Path

import numpy as np

from research.text import hf_tokenizer, sentencepiece_tokenizer
from research.text.byte_tokenizer import ByteTokenizer
from research.text.subword import CONFIG_FILE

KINDS = ("bytes", "sentencepiece_bpe", "sentencepiece_unigram", "byte_bpe", "wordpiece")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"tokenizer kind {kind!r} is unknown; use one of {list(KINDS)}.")


def train(kind: str, texts, vocab_size: int, num_sentinels: int, info: dict | None = None):
    """A tokenizer of `kind` trained on `texts` (documents); 'bytes' needs no training."""
    check_kind(kind)
    if kind == "bytes":
        return ByteTokenizer()
    if kind.startswith("sentencepiece_"):
        model_type = kind.removeprefix("sentencepiece_")
        return sentencepiece_tokenizer.train(texts, vocab_size, model_type, num_sentinels, info)
    return hf_tokenizer.train(texts, vocab_size, kind, num_sentinels, info)


def saved_config(directory) -> dict | None:
    """The tokenizer_config.json saved in `directory`, or None when there is none."""
    path = Path(directory) / CONFIG_FILE
    return json.loads(path.read_text()) if path.exists() else None


def save(tokenizer, directory) -> Path:
    """Saves any kind (bytes: only its config, so a workdir records which tokenizer it used)."""
    if isinstance(tokenizer, ByteTokenizer):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"kind": "bytes", "vocab_size": tokenizer.vocab_size}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
        return directory
    return tokenizer.save(directory)


def load(directory):
    """The tokenizer saved in `directory` by `save`, exactly as it was (never retrained)."""
    config = saved_config(directory)
    if config is None:
        raise ValueError(
            f"{directory} holds no saved tokenizer ({CONFIG_FILE} is missing); pass the folder "
            "that `save` wrote."
        )
    kind = config["kind"]
    check_kind(kind)
    if kind == "bytes":
        return ByteTokenizer()
    if kind.startswith("sentencepiece_"):
        return sentencepiece_tokenizer.SentencePieceTokenizer.load(Path(directory), config)
    return hf_tokenizer.HFTokenizer.load(Path(directory), config)


def token_bytes(tokenizer) -> np.ndarray:
    """UTF-8 bytes each id stands for in lossless tokenizers (0 for special ids). int32 [V]."""
    if isinstance(tokenizer, ByteTokenizer):
        return np.asarray([1] * 256 + [0] * (tokenizer.vocab_size - 256), np.int32)
    return tokenizer.token_bytes


def encode_documents_with_bytes(tokenizer, texts) -> tuple[np.ndarray, np.ndarray]:
    """One stream of `texts`, each followed by eos, and the bytes of text behind each token.

    Shapes: -> ids int32 [L], bytes int32 [L]; the bytes of document i sum to len(text_i in
    UTF-8) exactly (eos carries what a lossy tokenizer dropped at the end, usually 0).
    """
    ids, counts = [], []
    for text in texts:
        if isinstance(tokenizer, ByteTokenizer):
            doc_ids = tokenizer.encode(text).tolist()
            doc_counts = [1] * len(doc_ids)
        else:
            doc_ids, doc_counts = tokenizer.byte_counts(text)
        rest = len(text.encode()) - sum(doc_counts)
        ids += [*doc_ids, tokenizer.eos_id]
        counts += [*doc_counts, rest]
    return np.asarray(ids, np.int32), np.asarray(counts, np.int32)
