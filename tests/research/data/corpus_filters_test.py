"""Metadata filters: equality, inclusive ISO date ranges, missing fields and bad dates refused."""

import pytest

from research.data.corpora import Document
from research.data.corpus_filters import in_date_range, parse_date, where_equal

DOCS = [
    Document("a", {"path": "x", "lang": "en", "date": "2024-01-31"}),
    Document("b", {"path": "x", "lang": "fr", "date": "2024-02-01T23:59:00"}),
    Document("c", {"path": "x", "lang": "en", "date": "2024-03-15"}),
]


def test_where_equal():
    assert [d.text for d in where_equal(DOCS, "lang", "en")] == ["a", "c"]
    with pytest.raises(ValueError, match=r"no document has lang == 'de'"):
        list(where_equal(DOCS, "lang", "de"))


def test_date_range_is_inclusive_on_calendar_dates():
    # Off-by-one bugs (exclusive end, comparing the time of day) drop 'b' here.
    assert [d.text for d in in_date_range(DOCS, "date", "2024-02-01", "2024-02-01")] == ["b"]
    assert [d.text for d in in_date_range(DOCS, "date", "2024-01-31", "2024-03-14")] == ["a", "b"]
    assert [d.text for d in in_date_range(DOCS, "date", start="2024-02-02")] == ["c"]
    assert [d.text for d in in_date_range(DOCS, "date", end="2024-01-31")] == ["a"]


def test_missing_field_and_bad_dates_are_one_sentence():
    with pytest.raises(ValueError) as e:
        list(where_equal(DOCS, "language", "en"))
    assert str(e.value) == (
        "a document from x has no metadata field 'language' (it has ['date', 'lang', 'path']); "
        "filter on one of those."
    )
    with pytest.raises(ValueError, match=r"^start '01/02/2024' is not an ISO date; write dates"):
        list(in_date_range(DOCS, "date", "01/02/2024"))
    with pytest.raises(ValueError, match=r"^x lang 'en' is not an ISO date"):
        list(in_date_range(DOCS, "lang", "2024-01-01"))
    with pytest.raises(ValueError, match="start 2024-03-01 is after end 2024-02-01; swap them."):
        list(in_date_range(DOCS, "date", "2024-03-01", "2024-02-01"))
    assert parse_date("2024-05-01T12:00:00+02:00").isoformat() == "2024-05-01"
