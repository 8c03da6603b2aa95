"""Trained word vectors: similarity queries and the word2vec text and binary file formats.

Queries follow gensim's `KeyedVectors` exactly (same words, same scores):
- `most_similar` is 3CosAdd (Mikolov et al. 2013): the mean of the unit-normalised query vectors
  (+1 for positive, -1 for negative words, divided by the number of words), normalised again,
  against every unit vector; the query words themselves are left out of the answer.
- `most_similar_cosmul` is 3CosMul (Levy & Goldberg 2014, eq. 4): cosines shifted to [0, 1],
  prod(positive) / (prod(negative) + 1e-6).

Formats (Mikolov's word2vec tool): a header line "V D", then per word either the word and D decimal
numbers separated by single spaces (text), or the word, one space, and D little-endian float32
(binary, each row ended by a newline as the C tool writes it; gensim reads rows with or without).
"""

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# 3CosMul's guard against division by zero, gensim's value.
COSMUL_EPSILON = 1e-6


class WordVectors:
    """`vectors[i]` is the vector of `words[i]`. vectors: float32 [V, D].

    `oov_vector(word) -> [D]` answers words outside `words` (FastText builds it from subword
    n-grams); without it an out-of-vocabulary word is a ValueError.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        oov_vector: Callable[[str], np.ndarray] | None = None,
    ):
        vectors = np.asarray(vectors, dtype=np.float32)
        words = tuple(words)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"vectors has shape {vectors.shape} for {len(words)} words; expected [V, D] with "
                f"V = {len(words)}."
            )
        self.words = words
        self.vectors = vectors
        self.oov_vector = oov_vector
        self._index = {word: i for i, word in enumerate(words)}
        if len(self._index) != len(words):
            raise ValueError(
                f"the {len(words)} words hold only {len(self._index)} distinct ones; give each "
                "word once."
            )
        norms = np.linalg.norm(vectors, axis=1)
        # A zero vector has cosine 0 with everything (gensim would divide by zero and give nan).
        self._unit = vectors / np.where(norms == 0, 1, norms)[:, None]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self._index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def unit_vectors(self) -> np.ndarray:
        """float32 [V, D]: every row scaled to length 1 (a zero row stays zero)."""
        return self._unit

    def index(self, word: str) -> int | None:
        """The row of `word`, None when it is out of vocabulary."""
        return self._index.get(word)

    def vector(self, word: str) -> np.ndarray:
        """float32 [D]: the row of `word`, or `oov_vector(word)` for a word outside the vocabulary."""
        i = self._index.get(word)
        if i is not None:
            return self.vectors[i]
        if self.oov_vector is None:
            raise ValueError(
                f"{word!r} is not in the vocabulary of {len(self.words)} words; query a word it "
                "has (check with `word in vectors`) or train FastText, which answers unseen words."
            )
        return np.asarray(self.oov_vector(word), dtype=np.float32)

    def unit_vector(self, word: str) -> np.ndarray:
        """float32 [D]: `vector(word)` scaled to length 1 (zero stays zero)."""
        i = self._index.get(word)
        if i is not None:
            return self._unit[i]
        v = self.vector(word)
        norm = np.linalg.norm(v)
        return v / norm if norm > 0 else v

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the vectors of `a` and `b`."""
        return float(np.dot(self.unit_vector(a), self.unit_vector(b)))

    def cosines(self, query: np.ndarray) -> np.ndarray:
        """float32 [V]: cosine of every word's vector with `query` [D] (any length, nonzero)."""
        query = np.asarray(query, dtype=np.float32)
        if query.shape != (self.dim,):
            raise ValueError(f"query has shape {query.shape}; expected ({self.dim},).")
        return self._unit @ (query / np.linalg.norm(query))

    def most_similar(self, positive, negative=(), topn: int = 10) -> list[tuple[str, float]]:
        """3CosAdd: the `topn` (word, cosine) nearest mean(positive) - mean-weighted negative."""
        positive, negative = _word_list(positive), _word_list(negative)
        if not positive and not negative:
            raise ValueError("most_similar needs at least one positive or negative word.")
        weighted = [self.unit_vector(w) for w in positive] + [
            -self.unit_vector(w) for w in negative
        ]
        mean = np.sum(weighted, axis=0, dtype=np.float32) / np.float32(len(weighted))
        norm = np.linalg.norm(mean)
        mean = (mean / norm if norm > 0 else mean).astype(np.float32)
        return self._top(self._unit @ mean, positive + negative, topn)

    def most_similar_cosmul(self, positive, negative=(), topn: int = 10) -> list[tuple[str, float]]:
        """3CosMul: the `topn` (word, score), score = prod((1+cos)/2 of positive) / (prod(negative)+1e-6)."""
        positive, negative = _word_list(positive), _word_list(negative)
        if not positive:
            raise ValueError("most_similar_cosmul needs at least one positive word.")
        pos = [(1 + self._unit @ self.unit_vector(w)) / 2 for w in positive]
        neg = [(1 + self._unit @ self.unit_vector(w)) / 2 for w in negative]
        scores = np.prod(pos, axis=0) / (np.prod(neg, axis=0) + COSMUL_EPSILON)
        return self._top(scores, positive + negative, topn)

    def _top(self, scores: np.ndarray, query: list[str], topn: int) -> list[tuple[str, float]]:
        if topn < 1:
            return []
        excluded = {self._index[w] for w in query if w in self._index}
        k = min(topn + len(excluded), len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        result = [(self.words[i], float(scores[i])) for i in best if i not in excluded]
        return result[:topn]

    def save_word2vec_format(self, path, binary: bool = False) -> None:
        """Writes the word2vec text (or binary) format to `path`, atomically."""
        bad = [w for w in self.words if not w or any(c.isspace() for c in w)]
        if bad:
            raise ValueError(
                f"{len(bad)} words are empty or contain whitespace (e.g. {bad[0]!r}), which the "
                "word2vec format cannot hold; tokenize so that words have no spaces."
            )
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(f"{len(self.words)} {self.dim}\n".encode())
            little = self.vectors.astype("<f4")
            for word, row in zip(self.words, little, strict=True):
                if binary:
                    f.write(word.encode() + b" " + row.tobytes() + b"\n")
                else:
                    # .9g: nine significant digits give back the same float32.
                    numbers = " ".join(f"{x:.9g}" for x in row.tolist())
                    f.write(f"{word} {numbers}\n".encode())
        os.replace(tmp, path)

    @classmethod
    def load_word2vec_format(cls, path, binary: bool = False) -> "WordVectors":
        """Reads the word2vec text (or binary) format; a malformed file is a one-sentence ValueError."""
        data = Path(path).read_bytes()
        newline = data.find(b"\n")
        header = data[: newline if newline >= 0 else len(data)].split()
        try:
            count, dim = (int(x) for x in header)
            if count < 0 or dim < 1:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"{path}: the first line {header!r} is not 'V D' (two integers, D >= 1); "
                "this is not a word2vec-format file."
            ) from None
        body = data[newline + 1 :]
        if binary:
            words, vectors = _read_binary(path, body, count, dim)
        else:
            words, vectors = _read_text(path, body, count, dim)
        return cls(words, vectors)


def _word_list(words) -> list[str]:
    return [words] if isinstance(words, str) else list(words)


def _read_text(path, body: bytes, count: int, dim: int):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not UTF-8 text; for a binary word2vec file pass binary=True."
        ) from None
    lines = text.split("\n")  # not splitlines(): words may hold other Unicode line breaks
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != count:
        raise ValueError(
            f"{path}: the header announces {count} words but {len(lines)} rows follow; "
            "fix the header or the rows."
        )
    words, vectors = [], np.empty((count, dim), dtype=np.float32)
    for row, line in enumerate(lines):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise ValueError(
                f"{path}: row {row + 1} ({parts[0]!r}) has {len(parts) - 1} numbers; the header "
                f"says {dim} per word."
            )
        try:
            vectors[row] = [float(x) for x in parts[1:]]
        except ValueError:
            raise ValueError(
                f"{path}: row {row + 1} ({parts[0]!r}) holds something that is not a number; "
                "each row is a word and decimal numbers."
            ) from None
        words.append(parts[0])
    return words, vectors


def _read_binary(path, body: bytes, count: int, dim: int):
    width = 4 * dim
    words, vectors, pos = [], np.empty((count, dim), dtype=np.float32), 0
    for row in range(count):
        while body[pos : pos + 1] == b"\n":  # the C tool ends each row with a newline
            pos += 1
        space = body.find(b" ", pos)
        if space < 0 or space + 1 + width > len(body):
            raise ValueError(
                f"{path}: the file ends inside row {row + 1} of the {count} words the header "
                f"announces ({dim} float32 each); the file is truncated or the header is wrong."
            )
        try:
            words.append(body[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(
                f"{path}: row {row + 1} does not start with a UTF-8 word; the header's dimension "
                f"{dim} may be wrong."
            ) from None
        vectors[row] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    if body[pos:].strip(b"\n"):
        raise ValueError(
            f"{path}: {len(body) - pos} bytes follow the {count} rows the header announces; "
            "fix the header's word count."
        )
    return words, vectors
