"""Corpus readers: sources -> a stream of `Document(text, metadata)` in bounded memory.

Every reader is a generator that reads its file in chunks of `CHUNK_BYTES` (never the whole file), so
a corpus of any size streams through `for doc in read_lines(path): ...`; only one document (one line,
one paragraph, one JSON value, one CSV row, one file) is held at a time.

Sources: a folder of text files (one document per file), JSON Lines and JSON (a text field, the other
fields as metadata), CSV (a text column), one document per line, paragraphs split on blank lines, and
a custom delimiter (a string or a compiled regex). Filters by metadata live in `corpus_filters.py`.

Decoding: bytes are decoded incrementally with `encoding` (UTF-8 by default). With `errors='strict'`
(the default) undecodable bytes raise a ValueError naming the file and the byte offset of the first
bad byte; `errors='replace'` turns them into U+FFFD instead (any codec error handler works).
A missing file, a folder given as a file, and an encoding or error handler Python does not
know are each one ValueError naming the path.

Empty documents (empty or whitespace only) are skipped, never yielded: a reader counts them and logs
one warning with the count when it finishes; `skip_empty=False` refuses the first one with a
ValueError naming where it is. A source that yields no document at all raises a ValueError: an empty
corpus is almost always a wrong path, pattern or field, not an intended input.
"""

import codecs
import csv
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from absl import logging

CHUNK_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class Document:
    """One document: its text and where it came from (`path`, plus `line`, `row`, fields, ...)."""

    text: str
    metadata: dict[str, Any]


def decoded_chunks(path, *, encoding: str = "utf-8", errors: str = "strict") -> Iterator[str]:
    """The text of the file at `path`, decoded incrementally in pieces of at most CHUNK_BYTES bytes."""
    path = Path(path)
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
        codecs.lookup_error(errors)
    except LookupError as e:
        raise ValueError(
            f"Cannot read {path} with encoding={encoding!r} and errors={errors!r} ({e}); pass a "
            "codec Python knows, such as encoding='utf-8', 'latin-1' or 'cp1252', and errors="
            "'strict' or 'replace'."
        ) from None
    offset = 0  # bytes of the file consumed before the current chunk
    with _open(path) as f:
        while True:
            chunk = f.read(CHUNK_BYTES)
            pending = decoder.getstate()[0]  # undecoded bytes carried over from the last chunk
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                position = offset - len(pending) + e.start
                raise ValueError(
                    f"{path} has bytes that are not valid {encoding} at byte offset {position} "
                    f"({e.object[e.start : e.end]!r}); fix the file, pass the right encoding, or "
                    "pass errors='replace' to read them as U+FFFD."
                ) from None
            offset += len(chunk)
            if text:
                yield text
            if not chunk:
                return


def _open(path: Path):
    """The file at `path` opened for binary reading, or a ValueError saying why it cannot be."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise ValueError(f"No file at {path}{where}; pass the path of an existing file.") from None
    except IsADirectoryError:
        raise ValueError(
            f"{path} is a folder, not a file; pass a file, or read the folder with read_folder."
        ) from None
    except OSError as e:
        raise ValueError(
            f"{path} cannot be opened ({e.strerror}); check that it is a file you may read."
        ) from None


def _lines(path, encoding: str, errors: str) -> Iterator[str]:
    """Lines of the file with their line ending kept ('\\n', '\\r\\n' or '\\r' at the end)."""
    rest = ""
    for text in decoded_chunks(path, encoding=encoding, errors=errors):
        rest += text
        lines = rest.splitlines(keepends=True)
        # The last piece may continue in the next chunk (no newline yet, or a '\r' before '\n').
        rest = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        yield from lines
    if rest:
        yield rest


# A delimiter match is final only when this many characters follow it (or the file ends): a regex
# like r"\n\s*\n" could otherwise be cut at a chunk boundary and leave its tail in the next document.
DELIMITER_LOOKAHEAD = 1024


def _pieces(path, delimiter, encoding: str, errors: str) -> Iterator[tuple[str, int]]:
    """(text, 1-based line where it starts) between matches of `delimiter` (a compiled regex)."""
    rest, line = "", 1
    chunks = decoded_chunks(path, encoding=encoding, errors=errors)
    while True:
        piece = next(chunks, None)
        final = piece is None
        rest += piece or ""
        start = 0
        for match in delimiter.finditer(rest):
            if not final and match.end() + DELIMITER_LOOKAHEAD > len(rest):
                break
            yield rest[start : match.start()], line
            line += rest.count("\n", start, match.end())
            start = match.end()
        rest = rest[start:]
        if final:
            yield rest, line
            return


class _Counted:
    """Skips (and counts) or refuses empty documents, and refuses an empty corpus, for one source."""

    def __init__(self, source: str, skip_empty: bool):
        self.source, self.skip_empty = source, skip_empty
        self.yielded = self.skipped = 0

    def keep(self, text: str, where: str) -> bool:
        if text.strip():
            self.yielded += 1
            return True
        if not self.skip_empty:
            raise ValueError(
                f"{where} is an empty document; remove it, or pass skip_empty=True to skip "
                "empty documents (and count them)."
            )
        self.skipped += 1
        return False

    def finish(self) -> None:
        if self.skipped:
            logging.warning("Skipped %d empty documents in %s.", self.skipped, self.source)
        if not self.yielded:
            raise ValueError(
                f"{self.source} contains no documents ({self.skipped} empty ones skipped); check "
                "the path, the file pattern and the text field."
            )


def read_folder(
    folder, pattern: str = "*.txt", *, encoding="utf-8", errors="strict", skip_empty=True
) -> Iterator[Document]:
    """One document per file matching `pattern` (recursive glob, sorted paths); metadata: path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; pass the folder that holds the text files.")
    counter = _Counted(f"{folder} ({pattern})", skip_empty)
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file()):
        text = "".join(decoded_chunks(path, encoding=encoding, errors=errors))
        if counter.keep(text, str(path)):
            yield Document(text, {"path": str(path)})
    counter.finish()


def read_lines(path, *, encoding="utf-8", errors="strict", skip_empty=True) -> Iterator[Document]:
    """One document per line (without its line ending); metadata: path, line (1-based)."""
    counter = _Counted(str(path), skip_empty)
    for number, line in enumerate(_lines(path, encoding, errors), start=1):
        text = line.rstrip("\r\n")
        if counter.keep(text, f"{path} line {number}"):
            yield Document(text, {"path": str(path), "line": number})
    counter.finish()


def read_delimited(
    path, delimiter: str | re.Pattern, *, encoding="utf-8", errors="strict", skip_empty=True
) -> Iterator[Document]:
    """Documents separated by `delimiter`: a literal string, or a compiled regex (`re.compile`).

    Metadata: path, line (1-based line where the document starts), index (0-based, counting skipped
    empty pieces). A delimiter must not match the empty string, and a single match must be shorter
    than DELIMITER_LOOKAHEAD characters.
    """
    if isinstance(delimiter, str):
        if not delimiter:
            raise ValueError("delimiter is empty; pass the separator text, e.g. '\\n---\\n'.")
        delimiter = re.compile(re.escape(delimiter))
    if delimiter.match(""):
        raise ValueError(
            f"delimiter {delimiter.pattern!r} matches the empty string, so it would split between "
            "every character; use a pattern that needs at least one character, e.g. r'\\n{2,}'."
        )
    counter = _Counted(str(path), skip_empty)
    for index, (text, line) in enumerate(_pieces(path, delimiter, encoding, errors)):
        if counter.keep(text, f"{path} document {index} (line {line})"):
            yield Document(text, {"path": str(path), "line": line, "index": index})
    counter.finish()


PARAGRAPH_BREAK = re.compile(r"\r?\n(?:[ \t]*\r?\n)+")


def read_paragraphs(
    path, *, encoding="utf-8", errors="strict", skip_empty=True
) -> Iterator[Document]:
    """Paragraphs: text split on blank lines (lines empty or only spaces and tabs).

    Metadata as `read_delimited`; the text keeps the paragraph's inner newlines, not the break.
    """
    yield from read_delimited(
        path, PARAGRAPH_BREAK, encoding=encoding, errors=errors, skip_empty=skip_empty
    )


def _split_fields(record: dict, text_field: str, where: str) -> tuple[str, dict]:
    if text_field not in record:
        raise ValueError(
            f"{where} has no field {text_field!r}; its fields are {sorted(record)}: pass one of "
            "them as text_field."
        )
    text = record[text_field]
    if not isinstance(text, str):
        raise ValueError(
            f"{where} field {text_field!r} is a {type(text).__name__}, not a string; pass the "
            "field that holds the text as text_field."
        )
    return text, {k: v for k, v in record.items() if k != text_field}


def _records(values: Iterable[tuple[Any, str, dict]], text_field, source, meta, skip_empty):
    counter = _Counted(source, skip_empty)
    for value, where, extra in values:
        if not isinstance(value, dict):
            raise ValueError(
                f"{where} is a JSON {type(value).__name__}, not an object; each document must be "
                f"an object with a {text_field!r} field."
            )
        text, fields = _split_fields(value, text_field, where)
        if counter.keep(text, where):
            yield Document(text, {**fields, **meta, **extra})
    counter.finish()


def read_jsonl(
    path, text_field: str = "text", *, encoding="utf-8", errors="strict", skip_empty=True
) -> Iterator[Document]:
    """One JSON object per line; `text_field` is the text, the other fields and path, line are the
    metadata. Blank lines are ignored."""

    def values():
        for number, line in enumerate(_lines(path, encoding, errors), start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{where} is not valid JSON ({e.msg} at column {e.colno}); each line must hold "
                    "one JSON object."
                ) from None
            yield value, where, {"line": number}

    yield from _records(values(), text_field, str(path), {"path": str(path)}, skip_empty)


def _json_array_values(path, encoding: str, errors: str) -> Iterator[tuple[Any, int]]:
    """Items of a top-level JSON array, parsed one at a time from chunks (with the index of each)."""
    decoder = json.JSONDecoder()
    chunks = decoded_chunks(path, encoding=encoding, errors=errors)
    buffer, position, index = "", 0, 0

    def more() -> bool:
        """Drop the parsed text, append the next chunk; False at the end of the file."""
        nonlocal buffer, position
        piece = next(chunks, None)
        if piece is None:
            return False
        buffer, position = buffer[position:] + piece, 0
        return True

    def next_char() -> str:
        """The next non-space character (not consumed); '' at the end of the file."""
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position].isspace():
                position += 1
            if position < len(buffer) or not more():
                return buffer[position : position + 1]

    def bad(expected: str):
        found = buffer[position : position + 20] or "the end of the file"
        return ValueError(
            f"{path} is not a JSON array of objects: expected {expected} at item {index}, found "
            f"{found!r}; pass a file holding [{{...}}, {{...}}] or use read_jsonl."
        )

    if next_char() != "[":
        raise bad("'['")
    position += 1
    if next_char() == "]":
        position += 1
    else:
        while True:
            next_char()
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, position)
                except json.JSONDecodeError:
                    if more():
                        continue
                    raise bad("a JSON value") from None
                if end == len(buffer) and more():
                    continue  # a number may go on in the next chunk: parse it again
                break
            yield value, index
            index, position = index + 1, end
            char = next_char()
            position += 1
            if char == "]":
                break
            if char != ",":
                position -= 1
                raise bad("',' or ']'")
    if next_char():
        raise bad("nothing after ']'")


def read_json(
    path, text_field: str = "text", *, encoding="utf-8", errors="strict", skip_empty=True
) -> Iterator[Document]:
    """A JSON file holding one array of objects, parsed one object at a time (bounded memory);
    `text_field` is the text, the other fields and path, index (0-based) are the metadata."""

    def values():
        for value, index in _json_array_values(path, encoding, errors):
            yield value, f"{path} item {index}", {"index": index}

    yield from _records(values(), text_field, str(path), {"path": str(path)}, skip_empty)


def read_csv(
    path,
    text_column: str = "text",
    *,
    encoding="utf-8",
    errors="strict",
    skip_empty=True,
    **csv_options,
) -> Iterator[Document]:
    """One document per CSV row (the first row names the columns); `text_column` is the text, the
    other columns and path, row (1-based data row) are the metadata. `csv_options` go to csv.reader
    (delimiter, quotechar, ...). Quoted fields may span lines; the reader is strict by default
    (`strict=False` to accept them): text after a closing quote is refused naming its row and line,
    and so is a quote that never closes, naming the line where it opens (it would otherwise swallow
    the rest of the file as one field)."""
    csv_options.setdefault("strict", True)
    ended = False  # set once csv.reader asks for a line past the end of the file

    def file_lines():
        nonlocal ended
        yield from _lines(path, encoding, errors)
        ended = True

    rows = csv.reader(file_lines(), **csv_options)

    def never_closes(line: int) -> ValueError:
        return ValueError(
            f"{path} line {line} opens a quoted field that never closes, so the rest of the file "
            "would be read as one field; close the quote (a quote inside a quoted field is "
            "written twice) or pass quoting=csv.QUOTE_NONE if quotes are plain text."
        )

    def next_row(where: str) -> list[str] | None:
        """The next row (None at the end of the file), refusing malformed CSV by its line."""
        start = rows.line_num + 1
        try:
            row = next(rows, None)
        except csv.Error as e:
            if ended:  # strict: the end of the file inside the row's quoted field
                raise never_closes(start) from None
            raise ValueError(
                f"{path}, {where} from line {start}, is not valid CSV at line {rows.line_num} "
                f"({e}); fix the quoting there (a quote inside a quoted field is written twice), "
                "or pass the csv options that fit the file (delimiter, quotechar, strict=False)."
            ) from None
        if row is not None and ended:  # not strict: the row took the rest of the file
            raise never_closes(rows.line_num - max(len(row[-1].splitlines()), 1) + 1)
        return row

    header = next_row("the header")
    if header is None:
        raise ValueError(f"{path} contains no documents (no header row); check the path.")
    if text_column not in header:
        raise ValueError(
            f"{path} has no column {text_column!r}; its columns are {header}: pass one of them as "
            "text_column."
        )

    def values():
        number = 1
        while (row := next_row(f"row {number}")) is not None:
            if len(row) != len(header):
                raise ValueError(
                    f"{path} row {number} has {len(row)} fields but the header has {len(header)}; "
                    "fix the row or pass the right delimiter."
                )
            yield dict(zip(header, row, strict=True)), f"{path} row {number}", {"row": number}
            number += 1

    yield from _records(values(), text_column, str(path), {"path": str(path)}, skip_empty)
