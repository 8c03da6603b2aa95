"""Bag-of-words counting on the host: documents -> (doc, term, count) pairs, scikit-learn's analysis.

  documents [D] --preprocess, tokenize--> tokens [N] (+ the document of each)
    --stop words, n-grams--> feature occurrences (doc, feature) [M] --count--> pairs [P]

The analysis is scikit-learn's `CountVectorizer(analyzer='word')` step for step: preprocess (lower
case, accents), tokenize (`token_pattern.findall`, or a `tokenizer` callable), drop stop words, then
add the n-grams of the remaining tokens joined by one space. The counting is vectorized instead of
a Python loop per token:

- Default pattern: every document is preprocessed, the documents are joined by '\\x00' and ONE
  `findall` of `\\w\\w+|\\x00` runs over the join. `(?u)\\b\\w\\w+\\b` and `\\w\\w+` find the same
  tokens (a greedy run of word characters always ends at a boundary and the scan never restarts
  inside a word), '\\x00' is not a word character so no token spans two documents, and the
  separators themselves mark where each document's tokens end. Used only when no document contains
  '\\x00'; any other pattern or a tokenizer callable runs per document.
- Tokens become integer ids through one dict built by `dict.fromkeys` (C speed); n-grams are
  integer keys (prefix id * U + next id) made unique with `np.unique`, and only the distinct n-grams
  are joined into strings.
- (doc, feature) occurrences become sorted count pairs through `np.bincount` over doc * F + feature
  when D * F is small, else `np.unique`.
"""

import re
from collections.abc import Callable, Mapping

import numpy as np

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_SEPARATOR = "\x00"
_FAST_PATTERN = re.compile(r"\w\w+|\x00")
_BINCOUNT_LIMIT = 1 << 25  # D * F cells counted densely at most (256 MiB of int64)


def tokenize_corpus(
    documents: list[str],
    preprocess: Callable[[str], str],
    tokenize: Callable[[str], list[str]] | None,
    token_pattern: str = DEFAULT_TOKEN_PATTERN,
) -> tuple[list[str], np.ndarray | None]:
    """All tokens in document order and the document of each.

    `tokenize=None` means `re.compile(token_pattern).findall`. Returns (tokens [N], rows int64 [N]),
    or (tokens with a '\\x00' after each document but the last, None) from the one-pass path:
    `feature_occurrences` finds the documents from the separators once tokens are integers.
    """
    if tokenize is None and token_pattern == DEFAULT_TOKEN_PATTERN:
        joined = _SEPARATOR.join(map(preprocess, documents))
        if joined.count(_SEPARATOR) == len(documents) - 1:
            return _FAST_PATTERN.findall(joined), None
    if tokenize is None:
        tokenize = re.compile(token_pattern).findall
    per_doc = [tokenize(preprocess(doc)) for doc in documents]
    lengths = np.fromiter(map(len, per_doc), np.int64, len(per_doc))
    tokens = [token for doc_tokens in per_doc for token in doc_tokens]
    return tokens, np.repeat(np.arange(len(documents), dtype=np.int64), lengths)


def feature_occurrences(
    tokens: list[str],
    rows: np.ndarray | None,
    ngram_range: tuple[int, int] = (1, 1),
    stop_words: frozenset[str] | None = None,
) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    """The features (n-grams of the tokens left after stop words) as groups, one per n.

    Each group is (strings [G], rows int64 [M], local ids int64 [M]): the distinct n-gram strings of
    that n and, per occurrence, its document and its index into `strings`. A string of one group
    may equal one of another (a token containing a space); `assign_ids` merges them.
    """
    min_n, max_n = ngram_range
    uni_index = dict.fromkeys(tokens)
    uni_strings = list(uni_index)
    uni_index = dict(zip(uni_strings, range(len(uni_strings)), strict=True))
    ids = np.fromiter(map(uni_index.__getitem__, tokens), np.int64, len(tokens))
    if rows is None:  # one-pass tokens: documents end at the separators
        is_separator = ids == uni_index.get(_SEPARATOR, -1)
        rows = np.cumsum(is_separator)[~is_separator]
        ids = ids[~is_separator]
    if stop_words:
        stop = np.fromiter((s in stop_words for s in uni_strings), bool, len(uni_strings))
        keep = ~stop[ids]
        ids, rows = ids[keep], rows[keep]
    groups = []
    if min_n == 1:
        used = np.bincount(ids, minlength=len(uni_strings)) > 0
        strings = [s if u else None for s, u in zip(uni_strings, used.tolist(), strict=True)]
        groups.append((strings, rows, ids))
    num_uni = max(len(uni_strings), 1)
    prev_ids, prev_strings = ids, uni_strings
    for n in range(2, max_n + 1):
        m = len(ids) - n + 1
        if m <= 0:
            break
        valid = (prev_ids[:m] >= 0) & (rows[:m] == rows[n - 1 :])
        keys = prev_ids[:m] * num_uni + ids[n - 1 :]
        uniq, inverse = np.unique(keys[valid], return_inverse=True)
        cur = np.full(m, -1, np.int64)
        cur[valid] = inverse.reshape(-1)
        strings = [
            f"{prev_strings[k // num_uni]} {uni_strings[k % num_uni]}" for k in uniq.tolist()
        ]
        if n >= min_n:
            groups.append((strings, rows[:m][valid], cur[valid]))
        prev_ids, prev_strings = cur, strings
    return groups


def assign_ids(groups, vocabulary: dict[str, int], grow: bool):
    """(rows [M], feature ids [M]) over all groups, numbering features through `vocabulary`.

    `grow=True` adds unseen features to `vocabulary` (in place, next free id); `grow=False` keeps it
    fixed and drops the occurrences of features outside it.
    """
    all_rows, all_ids = [], []
    for strings, rows, local in groups:
        if grow:
            lookup = [
                -1 if s is None else vocabulary.setdefault(s, len(vocabulary)) for s in strings
            ]
        else:
            lookup = [vocabulary.get(s, -1) for s in strings]
        feature = np.asarray(lookup, np.int64)[local] if len(local) else local
        keep = feature >= 0
        all_rows.append(rows[keep])
        all_ids.append(feature[keep])
    empty = np.zeros(0, np.int64)
    rows = np.concatenate(all_rows) if all_rows else empty
    ids = np.concatenate(all_ids) if all_ids else empty
    return rows, ids


def count_pairs(rows: np.ndarray, ids: np.ndarray, num_docs: int, num_features: int):
    """Occurrences -> (rows, cols, counts) of the distinct (doc, feature) pairs, sorted by both.

    Shapes: int64 [M] each in; int64 [P] each out (counts >= 1).
    """
    if num_docs * num_features <= max(_BINCOUNT_LIMIT, 4 * len(ids)) and num_features:
        dense = np.bincount(rows * num_features + ids, minlength=num_docs * num_features)
        keys = np.flatnonzero(dense)
        counts = dense[keys]
    else:
        keys, counts = np.unique(rows * num_features + ids, return_counts=True)
    width = max(num_features, 1)
    return keys // width, keys % width, counts.astype(np.int64)


def sorted_vocabulary(vocabulary: Mapping[str, int]) -> tuple[list[str], np.ndarray]:
    """(terms in sorted order, new id of each old id): scikit-learn numbers features alphabetically."""
    terms = sorted(vocabulary)
    new_id = np.empty(len(terms), np.int64)
    new_id[[vocabulary[t] for t in terms]] = np.arange(len(terms))
    return terms, new_id


def count_documents(
    documents: list[str],
    preprocess: Callable[[str], str],
    tokenize: Callable[[str], list[str]] | None,
    token_pattern: str,
    ngram_range: tuple[int, int],
    stop_words: frozenset[str] | None,
    vocabulary: Mapping[str, int] | None,
):
    """The whole pipeline: (rows [P], cols [P], counts [P], vocabulary) for len(documents) rows.

    `vocabulary=None` learns one and numbers it alphabetically, as scikit-learn does; a given one is
    used as is (features outside it are ignored).
    """
    tokens, rows = tokenize_corpus(documents, preprocess, tokenize, token_pattern)
    groups = feature_occurrences(tokens, rows, ngram_range, stop_words)
    if vocabulary is None:
        learned = {}
        rows, ids = assign_ids(groups, learned, grow=True)
        terms, new_id = sorted_vocabulary(learned)
        ids = new_id[ids]
        vocabulary = dict(zip(terms, range(len(terms)), strict=True))
    else:
        rows, ids = assign_ids(groups, vocabulary, grow=False)
    return (*count_pairs(rows, ids, len(documents), len(vocabulary)), vocabulary)
