"""The word analysis of scikit-learn's text vectorizers: decode, preprocess, tokenize, stop words.

`WordAnalysis` is a mixin: `research.text.vectorizers.CountVectorizer` (and through it
`TfidfVectorizer`) inherits scikit-learn's `build_preprocessor`, `build_tokenizer`,
`get_stop_words` and `build_analyzer` from it, with scikit-learn's error messages. It reads the
estimator's parameters (`input`, `encoding`, `decode_error`, `strip_accents`, `lowercase`,
`preprocessor`, `tokenizer`, `stop_words`, `token_pattern`, `ngram_range`, `analyzer`) and keeps no
state of its own.

  analyze = vectorizer.build_analyzer();  analyze("The cat sat") -> ['the', 'cat', 'sat']
"""

import numbers
import re
import unicodedata

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from research.text import bag_of_words as bow


def _strip_accents_unicode(s: str) -> str:
    try:
        s.encode("ASCII", errors="strict")
        return s
    except UnicodeEncodeError:
        normalized = unicodedata.normalize("NFKD", s)
        return "".join(c for c in normalized if not unicodedata.combining(c))


def _strip_accents_ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


class WordAnalysis:
    """scikit-learn's `build_*` methods of the word analyzer (a mixin; see the module docstring)."""

    def decode(self, doc):
        """Bytes -> str with `encoding` and `decode_error`; a str passes through."""
        if isinstance(doc, bytes):
            return doc.decode(self.encoding, self.decode_error)
        if not isinstance(doc, str):
            raise ValueError(
                f"A document of type {type(doc).__name__} ({doc!r:.40}) is not text; pass an "
                "iterable of str (or bytes) documents."
            )
        return doc

    def build_preprocessor(self):
        """doc -> doc: the `preprocessor`, else lower case then accent stripping as configured."""
        if self.preprocessor is not None:
            return self.preprocessor
        accents = {None: None, "unicode": _strip_accents_unicode, "ascii": _strip_accents_ascii}
        if callable(self.strip_accents):
            strip = self.strip_accents
        elif self.strip_accents in accents:
            strip = accents[self.strip_accents]
        else:
            raise ValueError(
                f"strip_accents={self.strip_accents!r} is not supported; use None, 'ascii', "
                "'unicode' or a callable."
            )
        lower = self.lowercase

        def preprocess(doc: str) -> str:
            doc = doc.lower() if lower else doc
            return strip(doc) if strip is not None else doc

        return preprocess

    def build_tokenizer(self):
        """doc -> list of tokens: the `tokenizer`, else `re.compile(token_pattern).findall`."""
        if self.tokenizer is not None:
            return self.tokenizer
        pattern = re.compile(self.token_pattern)
        if pattern.groups > 1:
            raise ValueError(
                "More than 1 capturing group in token pattern. Only a single group should be "
                "captured."
            )
        return pattern.findall

    def get_stop_words(self):
        """The stop words as a frozenset, or None."""
        if self.stop_words is None:
            return None
        if isinstance(self.stop_words, str):
            if self.stop_words == "english":
                return ENGLISH_STOP_WORDS
            raise ValueError(
                f"stop_words={self.stop_words!r} is not a built-in stop list; use 'english', a "
                "list of words or None."
            )
        return frozenset(self.stop_words)

    def build_analyzer(self):
        """doc -> list of features (tokens and n-grams), one document at a time, for inspection."""
        parts = self._analysis()

        def analyze(doc):
            groups = bow.feature_occurrences(*bow.tokenize_corpus([doc], *parts[:3]), *parts[3:])
            return [strings[i] for strings, _, local in groups for i in local.tolist()]

        return analyze

    def _analysis(self):
        """(preprocess, tokenize or None, token_pattern, ngram_range, stop_words), validated."""
        if self.analyzer != "word":
            raise ValueError(
                f"analyzer={self.analyzer!r} is not supported here; use analyzer='word' (or "
                "scikit-learn's own vectorizer for character n-grams and callables)."
            )
        if self.input != "content":
            raise ValueError(
                f"input={self.input!r} is not supported; pass the documents' text "
                "(input='content')."
            )
        min_n, max_n = self.ngram_range
        if not (isinstance(min_n, numbers.Integral) and isinstance(max_n, numbers.Integral)):
            raise ValueError(
                f"ngram_range={self.ngram_range!r} must be two integers (min_n, max_n)."
            )
        if min_n < 1 or min_n > max_n:
            raise ValueError(
                f"Invalid value for ngram_range={self.ngram_range} lower boundary larger than the "
                "upper boundary (or below 1); use 1 <= min_n <= max_n."
            )
        preprocess = self.build_preprocessor()
        decode = self.decode

        def decode_and_preprocess(doc):
            return preprocess(decode(doc))

        tokenize = None if self.tokenizer is None else self.build_tokenizer()
        if tokenize is None:
            self.build_tokenizer()  # checks the pattern's groups
        return (decode_and_preprocess, tokenize, self.token_pattern, (min_n, max_n),
                self.get_stop_words())  # fmt: skip
