"""Bag-of-words counting on the host: documents -> (doc, term, count) pairs, scikit-learn's analysis.

  documents [D] --preprocess, tokenize--> token ids [N] (+ the document of each, + the strings)
    --stop words, n-grams--> feature occurrences (doc, feature) [M] --count--> pairs [P]

The analysis is scikit-learn's `CountVectorizer(analyzer='word')` step for step: preprocess (lower
case, accents), tokenize (`token_pattern.findall`, or a `tokenizer` callable), drop stop words, then
add the n-grams of the remaining tokens joined by one space. The counting is vectorized instead of
a Python loop per token:

- Default pattern, one pass: the preprocessed documents are joined by ' \\x00 ' and encoded as
  UTF-8; one `bytes.translate` turns every ASCII non-word byte into a space and one `split()` cuts
  the join into runs of ASCII word bytes and non-ASCII bytes (2.4x faster than a `findall`). An
  ASCII run of >= 2 bytes IS a token: `(?u)\\b\\w\\w+\\b` finds maximal runs of >= 2 word
  characters, and for ASCII, str and bytes `\\w` agree ([A-Za-z0-9_]). A run with non-ASCII bytes
  is decoded and tokenized by the str pattern (0, 1 or more tokens); every run is bounded by ASCII
  non-word bytes, so tokens never cross runs. Only DISTINCT runs are decoded (a dict maps runs to
  ids at C speed); per-occurrence tokens come from a gather (`np.repeat` when a run holds several
  tokens). '\\x00' is not a word byte, so no token spans two documents, and the separators mark
  where each document's tokens end. Used when no document contains '\\x00' and the text encodes
  to UTF-8; any other pattern or a tokenizer callable runs per document.
- n-grams are integer keys (prefix id * U + next id) relabeled densely (a presence table) or by
  `np.unique`, and only the distinct n-grams are joined into strings.
- (doc, feature) occurrences become sorted count pairs through `np.bincount` over doc * F + feature
  in cache-sized blocks of documents when D * F is small next to M, else `np.unique`.
"""

import re
from collections.abc import Callable, Mapping

import numpy as np

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_SEPARATOR = " \x00 "
# ASCII bytes that are not word characters become spaces; word bytes, non-ASCII bytes and the
# separator's \x00 stay.
_RUNS_TABLE = bytes(c if c >= 0x80 or c == 0 or chr(c).isalnum() or c == 0x5F else 0x20
                    for c in range(256))  # fmt: skip
_STR_PATTERN = re.compile(r"\w\w+")  # == DEFAULT_TOKEN_PATTERN under findall, a little faster
_BINCOUNT_LIMIT = 1 << 25  # D * F cells counted in one dense array at most (256 MiB of int64)
_BLOCK_CELLS = 1 << 18  # cells per block when counting sorted rows block by block


def _index(items: list) -> tuple[list, np.ndarray]:
    """(distinct items in first-seen order, id of each item) via a dict. Shape: [N] -> int64 [N]."""
    distinct = list(dict.fromkeys(items))
    index = dict(zip(distinct, range(len(distinct)), strict=True))
    return distinct, np.fromiter(map(index.__getitem__, items), np.int64, len(items))


def tokenize_corpus(
    documents: list[str],
    preprocess: Callable[[str], str],
    tokenize: Callable[[str], list[str]] | None,
    token_pattern: str = DEFAULT_TOKEN_PATTERN,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The tokens of all documents, integer-coded, in document order.

    `tokenize=None` means `re.compile(token_pattern).findall`. Returns (strings [U]: the distinct
    tokens, ids int64 [N]: each token's index into strings, rows int64 [N]: each token's document).
    """
    if tokenize is None and token_pattern == DEFAULT_TOKEN_PATTERN:
        joined = _SEPARATOR.join(map(preprocess, documents))
        if joined.count("\x00") == len(documents) - 1:
            try:
                return _tokenize_one_pass(joined.encode("utf-8"))
            except UnicodeEncodeError:  # lone surrogates: fall back to per-document findall
                pass
    if tokenize is None:
        tokenize = re.compile(token_pattern).findall
    per_doc = [tokenize(preprocess(doc)) for doc in documents]
    lengths = np.fromiter(map(len, per_doc), np.int64, len(per_doc))
    strings, ids = _index([token for doc_tokens in per_doc for token in doc_tokens])
    return strings, ids, np.repeat(np.arange(len(documents), dtype=np.int64), lengths)


def _tokenize_one_pass(data: bytes) -> tuple[list[str], np.ndarray, np.ndarray]:
    runs, run_ids = _index(data.translate(_RUNS_TABLE).split())
    rows = np.cumsum(run_ids == (runs.index(b"\x00") if b"\x00" in runs else -1))
    token_index: dict[str, int] = {}
    tokens_of_run, lengths = [], np.zeros(len(runs), np.int64)
    for r, run in enumerate(runs):
        if run.isascii():
            found = [] if len(run) < 2 else [run.decode("ascii")]  # b"\x00" too
        else:
            found = _STR_PATTERN.findall(run.decode("utf-8"))
        tokens_of_run.extend(token_index.setdefault(t, len(token_index)) for t in found)
        lengths[r] = len(found)
    tokens_of_run = np.asarray(tokens_of_run, np.int64)
    starts = np.cumsum(lengths) - lengths
    per_occurrence = lengths[run_ids]  # 1: an ASCII token, 0: a separator or one character
    if lengths.max(initial=0) <= 1:  # no run holds several tokens: a mask and a gather suffice
        one = per_occurrence == 1
        return list(token_index), tokens_of_run[starts[run_ids[one]]], rows[one]
    offsets = np.arange(per_occurrence.sum()) - np.repeat(
        np.cumsum(per_occurrence) - per_occurrence, per_occurrence
    )
    ids = tokens_of_run[np.repeat(starts[run_ids], per_occurrence) + offsets]
    return list(token_index), ids, np.repeat(rows, per_occurrence)


def _relabel(keys: np.ndarray, key_range: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, index of each key among them), as `np.unique(return_inverse=True)`.

    Dense (a presence table and a cumsum) when the range is small next to the number of keys:
    O(M + range) instead of a sort.
    """
    if key_range <= max(_BINCOUNT_LIMIT, 8 * len(keys)):
        present = np.zeros(key_range, bool)
        present[keys] = True
        return np.flatnonzero(present), (np.cumsum(present) - 1)[keys]
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse.reshape(-1)


def feature_occurrences(
    strings: list[str],
    ids: np.ndarray,
    rows: np.ndarray,
    ngram_range: tuple[int, int] = (1, 1),
    stop_words: frozenset[str] | None = None,
) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    """The features (n-grams of the tokens left after stop words) as groups, one per n.

    Takes `tokenize_corpus`'s output. Each group is (strings [G], rows int64 [M], local ids int64
    [M]): the distinct n-gram strings of that n (None: never used) and, per occurrence, its
    document and its index into the group's strings. A string of one group may equal one of
    another (a token containing a space); `assign_ids` merges them.
    """
    min_n, max_n = ngram_range
    uni_strings = strings
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
        uniq, inverse = _relabel(keys[valid], len(prev_strings) * num_uni)
        cur = np.full(m, -1, np.int64)
        cur[valid] = inverse
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
        if not grow:  # a grown vocabulary has every used string (-1 marks unused ones only)
            keep = feature >= 0
            rows, feature = rows[keep], feature[keep]
        all_rows.append(rows)
        all_ids.append(feature)
    empty = np.zeros(0, np.int64)
    rows = np.concatenate(all_rows) if all_rows else empty
    ids = np.concatenate(all_ids) if all_ids else empty
    return rows, ids


def count_pairs(rows: np.ndarray, ids: np.ndarray, num_docs: int, num_features: int):
    """Occurrences -> (rows, cols, counts) of the distinct (doc, feature) pairs, sorted by both.

    Dense counting (`np.bincount` of doc * F + feature) when the D * F cells are few next to the
    M occurrences, over blocks of documents of about 2^18 cells (cache-sized), after a stable sort
    by row when rows are not sorted (n-gram groups: timsort merges their sorted runs); otherwise
    a sort of the keys (`np.unique`).
    Shapes: int64 [M] each in; int64 [P] each out (counts >= 1).
    """
    width = max(num_features, 1)
    cells = num_docs * width
    dense = len(ids) > 0 and cells <= max(_BINCOUNT_LIMIT, 32 * len(ids))
    if dense and not np.all(rows[1:] >= rows[:-1]):  # n-gram groups: sorted runs, timsort merges
        order = np.argsort(rows, kind="stable")
        rows, ids = rows[order], ids[order]
    keys = rows * width + ids
    if dense:
        per_block = max(1, _BLOCK_CELLS // width)
        bounds = np.searchsorted(rows, np.arange(0, num_docs + per_block, per_block))
        parts_keys, parts_counts = [], []
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if lo < hi:
                base = i * per_block * width
                dense = np.bincount(keys[lo:hi] - base, minlength=per_block * width)
                nonzero = np.flatnonzero(dense)
                parts_keys.append(nonzero + base)
                parts_counts.append(dense[nonzero])
        keys, counts = np.concatenate(parts_keys), np.concatenate(parts_counts)
    else:
        keys, counts = np.unique(keys, return_counts=True)
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
    tokens = tokenize_corpus(documents, preprocess, tokenize, token_pattern)
    groups = feature_occurrences(*tokens, ngram_range, stop_words)
    if vocabulary is None:
        learned = {}
        rows, ids = assign_ids(groups, learned, grow=True)
        terms, new_id = sorted_vocabulary(learned)
        ids = new_id[ids]
        vocabulary = dict(zip(terms, range(len(terms)), strict=True))
    else:
        rows, ids = assign_ids(groups, vocabulary, grow=False)
    return (*count_pairs(rows, ids, len(documents), len(vocabulary)), vocabulary)
