"""scikit-learn's `CountVectorizer` and `TfidfVectorizer`, same API and same output, on the JAX core.

  vectorizer.fit_transform(documents [D]) -> scipy CSR [D, V] (sorted indices, the asked dtype)

Parameter names, defaults, `vocabulary_`, `idf_`, `get_feature_names_out()` and the error messages
of the failures a user meets (empty vocabulary, nothing left after pruning, max_df < min_df) are
scikit-learn's, so code written against `sklearn.feature_extraction.text` swaps these in. Outputs
equal scikit-learn's to float64 rounding for every option combination (tests/research/text/
vectorizers_test.py checks a grid): tokens are counted by `research.text.bag_of_words` (host numpy,
vectorized), document frequency, idf, weighting and normalization run in `research.text.tfidf`
(JAX). Ties among `max_features` are broken as scikit-learn breaks them: `np.argsort` of minus the
column totals (in the vectorizer's dtype) over the alphabetically sorted surviving terms. Our CSR
always has sorted column indices; scikit-learn's may not (it renumbers columns in place after
sorting the vocabulary), so compare matrices, not raw `.indices` arrays.

Beyond scikit-learn: `fit_stream(chunks)` fits over an iterable of document lists in memory bounded
by the vocabulary (equal to `fit` on their concatenation), and `TfidfVectorizer(idf_form='textbook')`
uses idf = ln(n / df) without scikit-learn's `+ 1` (see research/text/tfidf.py).
Not supported: analyzer='char'/'char_wb' or a callable analyzer, input='filename'/'file'.
"""

import numbers
from collections.abc import Iterable, Mapping

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from research.text import bag_of_words as bow
from research.text import tfidf
from research.text.word_analysis import WordAnalysis

_FLOAT_DTYPES = (np.float64, np.float32)


class CountVectorizer(WordAnalysis, BaseEstimator):
    """Token counts of each document: scikit-learn's CountVectorizer (analyzer='word')."""

    def __init__(
        self,
        *,
        input="content",
        encoding="utf-8",
        decode_error="strict",
        strip_accents=None,
        lowercase=True,
        preprocessor=None,
        tokenizer=None,
        stop_words=None,
        token_pattern=bow.DEFAULT_TOKEN_PATTERN,
        ngram_range=(1, 1),
        analyzer="word",
        max_df=1.0,
        min_df=1,
        max_features=None,
        vocabulary=None,
        binary=False,
        dtype=np.int64,
    ):
        self.input = input
        self.encoding = encoding
        self.decode_error = decode_error
        self.strip_accents = strip_accents
        self.lowercase = lowercase
        self.preprocessor = preprocessor
        self.tokenizer = tokenizer
        self.stop_words = stop_words
        self.token_pattern = token_pattern
        self.ngram_range = ngram_range
        self.analyzer = analyzer
        self.max_df = max_df
        self.min_df = min_df
        self.max_features = max_features
        self.vocabulary = vocabulary
        self.binary = binary
        self.dtype = dtype

    # ---- fitting ----

    def _documents(self, raw_documents) -> list:
        if isinstance(raw_documents, (str, bytes)):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        return list(raw_documents)

    def _fixed_vocabulary(self) -> dict[str, int] | None:
        """The `vocabulary` argument as {term: index}, checked as scikit-learn checks it."""
        vocabulary = self.vocabulary
        if vocabulary is None:
            return None
        if isinstance(vocabulary, set):
            vocabulary = sorted(vocabulary)
        if not isinstance(vocabulary, Mapping):
            vocab = {}
            for i, t in enumerate(vocabulary):
                if vocab.setdefault(t, i) != i:
                    raise ValueError(f"Duplicate term in vocabulary: {t!r}")
            vocabulary = vocab
        else:
            indices = set(vocabulary.values())
            if len(indices) != len(vocabulary):
                raise ValueError("Vocabulary contains repeated indices.")
            for i in range(len(vocabulary)):
                if i not in indices:
                    raise ValueError(
                        f"Vocabulary of size {len(vocabulary)} doesn't contain index {i}."
                    )
        if not vocabulary:
            raise ValueError("empty vocabulary passed to fit")
        return dict(vocabulary)

    def _doc_count_bounds(self, num_docs: int):
        for name, value in (("max_df", self.max_df), ("min_df", self.min_df)):
            integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not (integral and value >= 0) and not (
                isinstance(value, numbers.Real) and not integral and 0.0 <= value <= 1.0
            ):
                raise ValueError(
                    f"{name}={value!r} must be a float in [0.0, 1.0] (a fraction of documents) "
                    "or an int >= 0 (a document count)."
                )
        if self.max_features is not None and not (
            isinstance(self.max_features, numbers.Integral) and self.max_features >= 0
        ):
            raise ValueError(f"max_features={self.max_features!r} must be None or an int >= 0.")
        high = self.max_df if isinstance(self.max_df, numbers.Integral) else self.max_df * num_docs
        low = self.min_df if isinstance(self.min_df, numbers.Integral) else self.min_df * num_docs
        if high < low:
            raise ValueError("max_df corresponds to < documents than min_df")
        return high, low

    def _prune(self, terms: list[str], df: np.ndarray, tf: np.ndarray, num_docs: int):
        """Keep mask over the sorted `terms` (scikit-learn's _limit_features); sets vocabulary_."""
        high, low = self._doc_count_bounds(num_docs)
        mask = (df <= high) & (df >= low)
        if self.max_features is not None and mask.sum() > self.max_features:
            # Same array, same dtype, same argsort as scikit-learn: identical tie breaking.
            tfs = tf.astype(self.dtype)
            kept = (-tfs[mask]).argsort()[: self.max_features]
            new_mask = np.zeros(len(df), dtype=bool)
            new_mask[np.where(mask)[0][kept]] = True
            mask = new_mask
        if not mask.any():
            raise ValueError(
                "After pruning, no terms remain. Try a lower min_df or a higher max_df."
            )
        kept_terms = [t for t, m in zip(terms, mask.tolist(), strict=True) if m]
        self.vocabulary_ = dict(zip(kept_terms, range(len(kept_terms)), strict=True))
        return mask

    def _count(self, documents: list, vocabulary):
        """(rows, cols, counts, vocabulary) of `documents`; counts are 1 when `binary`."""
        rows, cols, counts, vocabulary = bow.count_documents(
            documents, *self._analysis(), vocabulary
        )
        if self.binary:
            counts = np.ones_like(counts)
        return rows, cols, counts, vocabulary

    def _fit_pairs(self, raw_documents):
        """Fit on `raw_documents`; returns their (rows, cols, counts, num_docs) in the final ids."""
        documents = self._documents(raw_documents)
        fixed = self._fixed_vocabulary()
        rows, cols, counts, vocabulary = self._count(documents, fixed)
        if fixed is not None:
            self.vocabulary_ = fixed
            return rows, cols, counts, len(documents)
        if not vocabulary:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        terms = list(vocabulary)
        df = tfidf.document_frequency_host(cols, counts, len(terms))
        tf = np.bincount(cols, weights=counts, minlength=len(terms))
        mask = self._prune(terms, df, tf, len(documents))
        new_id = np.cumsum(mask) - 1
        keep = mask[cols]
        return rows[keep], new_id[cols[keep]], counts[keep], len(documents)

    def fit(self, raw_documents, y=None):
        """Learn the vocabulary of `raw_documents` (an iterable of str). Returns self."""
        self._fit_pairs(raw_documents)
        return self

    def fit_transform(self, raw_documents, y=None):
        """Learn the vocabulary and return the count matrix [D, V] (CSR, `dtype`)."""
        rows, cols, counts, num_docs = self._fit_pairs(raw_documents)
        return self._csr(rows, cols, counts.astype(self.dtype), num_docs)

    def _transform_pairs(self, raw_documents):
        if not hasattr(self, "vocabulary_"):
            fixed = self._fixed_vocabulary()
            if fixed is None:
                raise NotFittedError(
                    f"{type(self).__name__} has no vocabulary; call fit or fit_transform before "
                    "transform, or pass vocabulary=."
                )
            self.vocabulary_ = fixed
        documents = self._documents(raw_documents)
        rows, cols, counts, _ = self._count(documents, self.vocabulary_)
        return rows, cols, counts, len(documents)

    def transform(self, raw_documents):
        """Count matrix [D, V] of `raw_documents` over the fitted vocabulary (others ignored)."""
        rows, cols, counts, num_docs = self._transform_pairs(raw_documents)
        return self._csr(rows, cols, counts.astype(self.dtype), num_docs)

    def fit_stream(self, chunks: Iterable[Iterable[str]]):
        """Fit over an iterable of document batches, holding one batch and the vocabulary at a time.

        Equal to `fit` on the concatenated documents: document frequencies and column totals are
        accumulated per batch under a growing vocabulary, then sorted and pruned once. Returns self.
        """
        fixed = self._fixed_vocabulary()
        vocabulary = {} if fixed is None else fixed
        analysis = self._analysis()
        df = np.zeros(0, np.int64)
        tf = np.zeros(0, np.float64)
        num_docs = 0
        for chunk in chunks:
            documents = self._documents(chunk)
            tokens = bow.tokenize_corpus(documents, *analysis[:3])
            groups = bow.feature_occurrences(*tokens, *analysis[3:])
            rows, ids = bow.assign_ids(groups, vocabulary, grow=fixed is None)
            rows, cols, counts = bow.count_pairs(rows, ids, len(documents), len(vocabulary))
            if self.binary:
                counts = np.ones_like(counts)
            df = np.pad(df, (0, len(vocabulary) - len(df)))
            tf = np.pad(tf, (0, len(vocabulary) - len(tf)))
            df += tfidf.document_frequency_host(cols, counts, len(vocabulary))
            tf += np.bincount(cols, weights=counts, minlength=len(vocabulary))
            num_docs += len(documents)
        if fixed is not None:
            self.vocabulary_ = fixed
            self._set_stream_df(df, num_docs)
            return self
        if not vocabulary:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        terms, new_id = bow.sorted_vocabulary(vocabulary)
        order = np.argsort(new_id)
        df, tf = df[order], tf[order]
        mask = self._prune(terms, df, tf, num_docs)
        self._set_stream_df(df[mask], num_docs)
        return self

    def _set_stream_df(self, df: np.ndarray, num_docs: int) -> None:
        """Hook for TfidfVectorizer: the document frequencies of the fitted vocabulary."""

    def get_feature_names_out(self, input_features=None):
        """The terms in column order, as an object array of str."""
        if not hasattr(self, "vocabulary_"):
            fixed = self._fixed_vocabulary()
            if fixed is None:
                raise NotFittedError(
                    f"{type(self).__name__} has no vocabulary; call fit before "
                    "get_feature_names_out."
                )
            self.vocabulary_ = fixed
        terms = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        return np.asarray(terms, dtype=object)

    def _csr(self, rows, cols, values, num_docs):
        indptr = np.zeros(num_docs + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=num_docs), out=indptr[1:])
        index_dtype = np.int32 if len(cols) <= np.iinfo(np.int32).max else np.int64
        shape = (num_docs, len(self.vocabulary_))
        matrix = sp.csr_matrix(
            (values, cols.astype(index_dtype), indptr.astype(index_dtype)), shape=shape
        )
        matrix.has_sorted_indices = True  # pairs come sorted by (row, col)
        if sklearn.get_config().get("sparse_interface") == "sparray":
            return sp.csr_array(matrix)
        return matrix


class TfidfVectorizer(CountVectorizer):
    """TF-IDF of each document: scikit-learn's TfidfVectorizer (analyzer='word'), plus `idf_form`.

    idf_form='sklearn' (default): idf = ln((1 + n) / (1 + df)) + 1 with smooth_idf (ln(n / df) + 1
    without); 'textbook': the same without the + 1.
    """

    def __init__(
        self,
        *,
        input="content",
        encoding="utf-8",
        decode_error="strict",
        strip_accents=None,
        lowercase=True,
        preprocessor=None,
        tokenizer=None,
        analyzer="word",
        stop_words=None,
        token_pattern=bow.DEFAULT_TOKEN_PATTERN,
        ngram_range=(1, 1),
        max_df=1.0,
        min_df=1,
        max_features=None,
        vocabulary=None,
        binary=False,
        dtype=np.float64,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=False,
        idf_form="sklearn",
    ):
        super().__init__(
            input=input, encoding=encoding, decode_error=decode_error,
            strip_accents=strip_accents, lowercase=lowercase, preprocessor=preprocessor,
            tokenizer=tokenizer, analyzer=analyzer, stop_words=stop_words,
            token_pattern=token_pattern, ngram_range=ngram_range, max_df=max_df, min_df=min_df,
            max_features=max_features, vocabulary=vocabulary, binary=binary, dtype=dtype,
        )  # fmt: skip
        self.norm = norm
        self.use_idf = use_idf
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf
        self.idf_form = idf_form

    @property
    def _out_dtype(self):
        return np.dtype(self.dtype) if np.dtype(self.dtype) in _FLOAT_DTYPES else np.float64

    def _check_weighting(self):
        if self.norm not in tfidf.NORMS:
            raise ValueError(f"norm={self.norm!r} is not supported; use 'l2', 'l1' or None.")
        if self.idf_form not in tfidf.IDF_FORMS:
            raise ValueError(
                f"idf_form={self.idf_form!r} is not supported; use 'sklearn' (ln((1 + n) / "
                "(1 + df)) + 1) or 'textbook' (no + 1)."
            )

    def _set_stream_df(self, df: np.ndarray, num_docs: int) -> None:
        self._check_weighting()
        self._idf = self._idf_from_df(df, num_docs) if self.use_idf else None
        self._fitted = True

    def _idf_from_df(self, df: np.ndarray, num_docs: int) -> np.ndarray:
        return tfidf.inverse_document_frequency_host(
            df, num_docs, self.smooth_idf, self.idf_form, self._out_dtype
        )

    def _weigh(self, rows, cols, counts, num_docs):
        values = tfidf.tfidf_values_host(
            rows, cols, counts, self._idf, num_docs, self._out_dtype, self.sublinear_tf, self.norm
        )
        return self._csr(rows, cols, values, num_docs)

    def fit(self, raw_documents, y=None):
        """Learn the vocabulary and idf of `raw_documents`. Returns self."""
        self.fit_transform(raw_documents)
        return self

    def fit_transform(self, raw_documents, y=None):
        """Learn the vocabulary and idf; return the tf-idf matrix [D, V] (CSR, float dtype)."""
        self._check_weighting()
        rows, cols, counts, num_docs = self._fit_pairs(raw_documents)
        self._idf = None
        if self.use_idf:
            df = tfidf.document_frequency_host(cols, counts, len(self.vocabulary_))
            self._idf = self._idf_from_df(df, num_docs)
        self._fitted = True
        return self._weigh(rows, cols, counts, num_docs)

    def transform(self, raw_documents):
        """tf-idf matrix [D, V] of `raw_documents` with the fitted vocabulary and idf."""
        if not getattr(self, "_fitted", False):
            raise NotFittedError(
                "The TF-IDF vectorizer is not fitted; call fit or fit_transform before transform."
            )
        self._check_weighting()
        return self._weigh(*self._transform_pairs(raw_documents))

    @property
    def idf_(self) -> np.ndarray:
        """idf of each column [V]; exists after fitting with use_idf=True."""
        if not getattr(self, "_fitted", False):
            raise NotFittedError(
                "TfidfVectorizer is not fitted yet. Call 'fit' with appropriate arguments before "
                "using this attribute."
            )
        if self._idf is None:
            raise AttributeError("idf_ does not exist with use_idf=False; fit with use_idf=True.")
        return self._idf
