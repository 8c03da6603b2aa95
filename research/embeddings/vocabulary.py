"""The vocabulary of a tokenized corpus: words most frequent first, with their counts.

`Vocabulary.build` makes one pass over the sentences holding only a word -> count table, so its
memory is bounded by the number of distinct words, not by the corpus. Order: count descending, ties
in order of first appearance (a stable sort of an insertion-ordered Counter). `encode` drops
out-of-vocabulary words, as word2vec does (the window then spans the words that remain).
"""

import collections
import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Vocabulary:
    """`words[i]` occurs `counts[i]` times; words most frequent first. counts: int64 [V]."""

    words: tuple[str, ...]
    counts: np.ndarray
    _index: dict = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        words = tuple(self.words)
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.shape != (len(words),):
            raise ValueError(
                f"counts has shape {counts.shape} but there are {len(words)} words; give one count "
                "per word."
            )
        index = {word: i for i, word in enumerate(words)}
        if len(index) != len(words):
            raise ValueError(
                f"the {len(words)} words hold only {len(index)} distinct ones; give each word once."
            )
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        min_count: int = 5,
        max_size: int | None = None,
    ) -> "Vocabulary":
        """Words seen at least `min_count` times, the `max_size` most frequent when given."""
        if min_count < 1:
            raise ValueError(f"min_count={min_count} must be at least 1.")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size={max_size} must be at least 1 (or None for no limit).")
        counter = collections.Counter()
        for sentence in sentences:
            if isinstance(sentence, str):
                raise ValueError(
                    f"a sentence is the string {sentence[:40]!r}, not a sequence of words; "
                    "tokenize each sentence into a list of words first."
                )
            counter.update(sentence)
        kept = sorted(
            ((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: -wc[1]
        )[:max_size]
        if not kept:
            raise ValueError(
                f"no word occurs at least min_count={min_count} times among the {len(counter)} "
                "distinct words of the corpus; lower min_count or give more text."
            )
        return cls(tuple(w for w, _ in kept), np.array([c for _, c in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def __eq__(self, other) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.words == other.words and np.array_equal(self.counts, other.counts)

    def __hash__(self):
        return hash(self.words)

    def index(self, word: str) -> int | None:
        """The id of `word`, None when it is out of vocabulary."""
        return self._index.get(word)

    def encode(self, sentence: Sequence[str]) -> np.ndarray:
        """int32 [n] ids of the in-vocabulary words of `sentence`, in order (OOV words dropped)."""
        if isinstance(sentence, str):
            raise ValueError(
                f"encode got the string {sentence[:40]!r}; pass a sequence of words (tokenize it)."
            )
        get = self._index.get
        ids = [i for i in map(get, sentence) if i is not None]
        return np.asarray(ids, dtype=np.int32)

    def save(self, path) -> None:
        """Writes {"words": [...], "counts": [...]} as JSON, atomically (temp file + rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        payload = {"words": list(self.words), "counts": self.counts.tolist()}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the whole new one, never a part

    @classmethod
    def load(cls, path) -> "Vocabulary":
        """The vocabulary `save` wrote to `path`."""
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            words, counts = payload["words"], payload["counts"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(
                f"{path} is not a vocabulary file ({e}); expected the JSON object "
                '{"words": [...], "counts": [...]} that Vocabulary.save writes.'
            ) from None
        if not all(isinstance(w, str) for w in words) or not all(
            isinstance(c, int) for c in counts
        ):
            raise ValueError(
                f"{path} must hold a list of string words and a list of integer counts; "
                "rewrite it with Vocabulary.save."
            )
        return cls(tuple(words), np.asarray(counts, dtype=np.int64))
