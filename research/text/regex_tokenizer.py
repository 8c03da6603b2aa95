"""Regex word tokenizer: the words of a text as the matches of one pattern, scikit-learn's default.

`DEFAULT_PATTERN` = r"(?u)\\b\\w\\w+\\b" is `CountVectorizer`'s `token_pattern`: runs of two or more word
characters (Unicode letters, digits, underscore), so one-letter words and punctuation are dropped.
A pattern with one capturing group yields that group (as scikit-learn does); more groups are refused.
"""

import re
from collections.abc import Iterator

DEFAULT_PATTERN = r"(?u)\b\w\w+\b"


class RegexTokenizer:
    """Words of a text: `tokenize(text) -> list[str]`, scikit-learn's `build_tokenizer()` output."""

    def __init__(self, pattern: str = DEFAULT_PATTERN, lowercase: bool = False):
        self.pattern = re.compile(pattern)
        if self.pattern.groups > 1:
            raise ValueError(
                f"pattern {pattern!r} has {self.pattern.groups} capturing groups; use at most one "
                "(make the others non-capturing with (?:...))."
            )
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        """The matches of the pattern in `text` (lowercased first when `lowercase`)."""
        return self.pattern.findall(text.lower() if self.lowercase else text)

    def iter_tokens(self, text: str) -> Iterator[tuple[str, int, int]]:
        """(token, start, end) character spans, in order: for offsets and highlighting."""
        group = 1 if self.pattern.groups else 0
        for match in self.pattern.finditer(text.lower() if self.lowercase else text):
            yield match.group(group), match.start(group), match.end(group)

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)
