"""Tests for research/text/word_analysis.py: the analysis steps equal scikit-learn's, step by step."""

import pytest
from sklearn.feature_extraction import text as sk

from research.text.vectorizers import CountVectorizer

DOCS = ["Café naïve façade, THE résumé", "a b_c d-e 42 x", "Ångström of the élan vital"]


@pytest.mark.parametrize("strip_accents", [None, "ascii", "unicode"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_preprocessor_equals_scikit_learns(strip_accents, lowercase):
    # Catches an accent table or a lower-casing order that differs from scikit-learn's.
    ours = CountVectorizer(strip_accents=strip_accents, lowercase=lowercase).build_preprocessor()
    theirs = sk.CountVectorizer(
        strip_accents=strip_accents, lowercase=lowercase
    ).build_preprocessor()
    assert [ours(d) for d in DOCS] == [theirs(d) for d in DOCS]


def test_unicode_accent_stripping_by_hand():
    preprocess = CountVectorizer(strip_accents="unicode", lowercase=False).build_preprocessor()
    assert preprocess("Café Ångström") == "Cafe Angstrom"


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(ngram_range=(1, 3), stop_words="english"),
        dict(token_pattern=r"(?u)\b\w+\b", stop_words=["the", "of"], ngram_range=(2, 2)),
    ],
)
def test_analyzer_equals_scikit_learns(options):
    ours = CountVectorizer(**options).build_analyzer()
    theirs = sk.CountVectorizer(**options).build_analyzer()
    for doc in DOCS:
        assert ours(doc) == theirs(doc), doc


def test_stop_words_by_name_and_by_list():
    assert CountVectorizer(stop_words="english").get_stop_words() == sk.ENGLISH_STOP_WORDS
    assert CountVectorizer(stop_words=["a", "b"]).get_stop_words() == frozenset({"a", "b"})
    with pytest.raises(ValueError, match="stop_words='french' is not a built-in stop list"):
        CountVectorizer(stop_words="french").get_stop_words()


def test_bad_options_are_one_sentence_each():
    with pytest.raises(ValueError, match="More than 1 capturing group"):
        CountVectorizer(token_pattern=r"(a)(b)").build_tokenizer()
    with pytest.raises(ValueError, match="strip_accents='latin' is not supported"):
        CountVectorizer(strip_accents="latin").build_preprocessor()
    with pytest.raises(ValueError, match="analyzer='char' is not supported here"):
        CountVectorizer(analyzer="char").build_analyzer()
    with pytest.raises(ValueError, match="A document of type int"):
        CountVectorizer().decode(3)
