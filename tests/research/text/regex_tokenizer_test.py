"""The regex word tokenizer equals scikit-learn's default tokenizer, token for token."""

import pytest
from sklearn.feature_extraction.text import CountVectorizer

from research.text.regex_tokenizer import DEFAULT_PATTERN, RegexTokenizer

TEXTS = [
    "The quick brown fox -- it's 2024! a b cd e_f",
    "Ünïcödé wörds, naïve café; 東京 is 2 chars: x1 _ __init__",
    "tabs\tand\nnewlines\r\n, don't; e.g. U.S.A. 3.14 π≈3",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_equals_sklearn_build_tokenizer(text):
    reference = CountVectorizer().build_tokenizer()
    assert RegexTokenizer().tokenize(text) == reference(text)
    assert CountVectorizer().token_pattern == DEFAULT_PATTERN


def test_exact_tokens_and_spans():
    # One-letter words ('a', 's' of it's) and punctuation are dropped; '東京' is one word.
    assert RegexTokenizer()("it's a 東京 x1!") == ["it", "東京", "x1"]
    assert list(RegexTokenizer(lowercase=True).iter_tokens("Hi, YOU")) == [
        ("hi", 0, 2), ("you", 4, 7)
    ]  # fmt: skip


def test_one_capturing_group_like_sklearn_and_two_refused():
    pattern = r"#(\w+)"
    reference = CountVectorizer(token_pattern=pattern).build_tokenizer()
    assert (
        RegexTokenizer(pattern)("#tag and #more") == reference("#tag and #more") == ["tag", "more"]
    )
    assert list(RegexTokenizer(pattern).iter_tokens("a #tag")) == [("tag", 3, 6)]
    with pytest.raises(ValueError, match=r"has 2 capturing groups; use at most one"):
        RegexTokenizer(r"(\w)(\w)")
