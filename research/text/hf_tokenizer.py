"""Hugging Face `tokenizers` trained offline: byte-level BPE as GPT-2 (Radford et al. 2019) and
WordPiece as BERT (Devlin et al. 2019), with the special-id layout of `special_tokens.py`.

byte_bpe: GPT-2's byte-to-unicode alphabet (256 symbols, ids right after the specials) and its
pre-tokenization regex, no prefix space; lossless, decode(encode(x)) == x, never unknown. Its
`fallback_mask` marks the single-byte symbols of bytes >= 0x80: a character the vocabulary could
not keep whole.
wordpiece: BERT's normalizer (lowercase, strip accents, clean control characters) and pre-tokenizer
(split on whitespace and punctuation), '##' continuations, <unk> for a word it cannot spell; lossy
(case, accents and whitespace are gone), so decode gives normalized text. `fallback_mask` is <unk>.
Text that spells a special token (e.g. '<mask>') is encoded as text, never as the special id.
"""

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from research.text import special_tokens
from research.text.subword import SubwordTokenizer, check_vocab_size, training_lines

KINDS = ("byte_bpe", "wordpiece")
NUM_BYTES = 256


def _byte_decoder() -> dict[str, int]:
    """GPT-2's map from its 256 printable stand-in characters back to bytes."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    chars, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(keep, chars, strict=True)}


class HFTokenizer(SubwordTokenizer):
    model_file = "tokenizer.json"

    def __init__(self, tokenizer: Tokenizer, kind: str, num_sentinels: int, info=None):
        super().__init__(num_sentinels, info)
        self.kind, self.tokenizer = kind, tokenizer
        # Text that spells a special token ('<mask>') stays text: special ids only come by id.
        # (Not kept in tokenizer.json, so it is set on every load.)
        tokenizer.encode_special_tokens = True
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        tokens = [""] * len(vocab)
        for token, i in vocab.items():
            tokens[i] = token
        num_special = special_tokens.NUM_FIXED + num_sentinels
        self._fallback = np.zeros(len(tokens), bool)
        if kind == "byte_bpe":
            to_byte = _byte_decoder()
            lengths = [len(t) for t in tokens]  # one byte per stand-in character
            for i, token in enumerate(tokens):
                self._fallback[i] = len(token) == 1 and to_byte.get(token, 0) >= 0x80
        else:
            lengths = [len(t.removeprefix("##").encode()) for t in tokens]
            self._fallback[self.unk_id] = True
        lengths[:num_special] = [0] * num_special
        self._fallback[:num_special] &= kind != "byte_bpe"
        self.token_bytes = np.asarray(lengths, np.int32)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def byte_counts(self, text: str) -> tuple[list[int], list[int]]:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        if self.kind == "byte_bpe":  # lossless: each token's own bytes
            return encoding.ids, self.token_bytes[encoding.ids].tolist()
        # Lossy: token i stands for the text from its start to the next token's start (the
        # whitespace it dropped included), the first token from the text's start.
        byte_at = np.concatenate([[0], np.cumsum([len(c.encode()) for c in text])])
        starts = [byte_at[start] for start, _ in encoding.offsets]
        if not starts:
            return [], []
        bounds = [0, *starts[1:], byte_at[-1]]
        return encoding.ids, [int(b - a) for a, b in zip(bounds, bounds[1:], strict=False)]

    def fallback_mask(self) -> np.ndarray:
        return self._fallback.copy()

    def _save_model(self, directory: Path) -> None:
        self.tokenizer.save(str(directory / self.model_file))

    @classmethod
    def load(cls, directory: Path, config: dict) -> "HFTokenizer":
        info = {k: v for k, v in config.items() if k not in ("kind", "vocab_size", "num_sentinels")}
        tokenizer = Tokenizer.from_file(str(Path(directory) / cls.model_file))
        return cls(tokenizer, config["kind"], config["num_sentinels"], info)


def train(
    texts,
    vocab_size: int,
    kind: str = "byte_bpe",
    num_sentinels: int = special_tokens.DEFAULT_NUM_SENTINELS,
    info: dict | None = None,
) -> HFTokenizer:
    """Trains on the non-empty lines of `texts` (an iterable of documents) in memory.

    `vocab_size` counts every id (specials, base alphabet and learned merges or pieces).
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown; use one of {KINDS}.")
    specials = special_tokens.special_tokens(num_sentinels)
    if kind == "byte_bpe":
        check_vocab_size(kind, vocab_size, num_sentinels, NUM_BYTES)
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        lines = (line + "\n" for line in training_lines(texts))  # newlines merge like GPT-2's
    else:
        check_vocab_size(kind, vocab_size, num_sentinels, 0)
        tokenizer = Tokenizer(models.WordPiece(unk_token=special_tokens.UNK))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=specials, show_progress=False
        )
        lines = training_lines(texts)
    tokenizer.train_from_iterator(lines, trainer=trainer)
    return HFTokenizer(tokenizer, kind, num_sentinels, info)
