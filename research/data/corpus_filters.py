"""Filters over a stream of `corpora.Document`s by metadata: a field equal to a value, a date range.

Both are generators (bounded memory, like the readers). A document without the field is an error,
not a silent miss: a misspelt field name would otherwise filter out the whole corpus. A filter that
keeps no document raises a ValueError naming what it looked for, as the readers do for an empty
corpus.
"""

import datetime
from collections.abc import Iterable, Iterator

from research.data.corpora import Document


def _field(doc: Document, field: str):
    if field not in doc.metadata:
        where = doc.metadata.get("path", "a document")
        raise ValueError(
            f"a document from {where} has no metadata field {field!r} (it has "
            f"{sorted(doc.metadata)}); filter on one of those."
        )
    return doc.metadata[field]


def where_equal(docs: Iterable[Document], field: str, value) -> Iterator[Document]:
    """The documents whose metadata[field] == value (the field must exist in every document)."""
    kept = 0
    for doc in docs:
        if _field(doc, field) == value:
            kept += 1
            yield doc
    if not kept:
        raise ValueError(f"no document has {field} == {value!r}; check the field and the value.")


def parse_date(value, where: str = "value") -> datetime.date:
    """An ISO 8601 date ('2024-05-01') or date-time ('2024-05-01T12:00:00') as a `date`."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise ValueError(
        f"{where} {value!r} is not an ISO date; write dates as YYYY-MM-DD (or a full ISO date-time)."
    )


def in_date_range(docs: Iterable[Document], field: str, start=None, end=None) -> Iterator[Document]:
    """The documents with start <= date(metadata[field]) <= end (inclusive; None = unbounded).

    Dates are ISO 8601 strings (or `datetime.date`s); only the calendar date counts, so
    '2024-05-01T23:59' is in a range ending '2024-05-01'.
    """
    low = None if start is None else parse_date(start, "start")
    high = None if end is None else parse_date(end, "end")
    if low is not None and high is not None and low > high:
        raise ValueError(f"start {low} is after end {high}; swap them.")
    kept = 0
    for doc in docs:
        date = parse_date(_field(doc, field), f"{doc.metadata.get('path', 'a document')} {field}")
        if (low is None or low <= date) and (high is None or date <= high):
            kept += 1
            yield doc
    if not kept:
        raise ValueError(
            f"no document has {field} between {low or 'any date'} and {high or 'any date'}; check "
            "the field and the range."
        )
