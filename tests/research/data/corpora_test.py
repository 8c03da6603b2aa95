"""Corpus readers on tmp files: every format, chunk boundaries, bad bytes, empty documents, empty
corpora, missing fields and columns, each with its exact message."""

import json
import re

import pytest

from research.data import corpora
from research.data.corpora import Document


@pytest.fixture
def small_chunks(monkeypatch):
    """3-byte chunks: every multi-byte character, line ending and delimiter straddles a boundary
    (and a delimiter match is final 8 characters on, not the default 1024, so it is tested too)."""
    monkeypatch.setattr(corpora, "CHUNK_BYTES", 3)
    monkeypatch.setattr(corpora, "DELIMITER_LOOKAHEAD", 8)


def test_folder_one_document_per_file_sorted_recursive(tmp_path):
    (tmp_path / "b.txt").write_text("beta\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("alpha é")
    (tmp_path / "skip.md").write_text("not matched")
    docs = list(corpora.read_folder(tmp_path))
    assert docs == [
        Document("beta\n", {"path": str(tmp_path / "b.txt")}),
        Document("alpha é", {"path": str(tmp_path / "sub" / "a.txt")}),
    ]


def test_lines_across_chunk_boundaries_and_line_endings(tmp_path, small_chunks):
    path = tmp_path / "c.txt"
    path.write_bytes("héllo wörld\r\nsecond\rthird\n\nfifth".encode())
    docs = list(corpora.read_lines(path))
    # A '\r\n' split between two chunks must not make an extra empty line; the empty line 4 is
    # skipped (counted), numbers stay those of the file.
    assert [(d.text, d.metadata["line"]) for d in docs] == [
        ("héllo wörld", 1), ("second", 2), ("third", 3), ("fifth", 5)
    ]  # fmt: skip


def test_reading_is_lazy_in_chunks(tmp_path, monkeypatch):
    """The first document comes after reading one chunk, not the whole file."""
    path = tmp_path / "big.txt"
    path.write_text("first\n" + "x" * 100_000)
    monkeypatch.setattr(corpora, "CHUNK_BYTES", 16)
    reads = []
    real_open = open

    class Spy:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def read(self, n):
            reads.append(n)
            return self.f.read(n)

    monkeypatch.setattr("builtins.open", lambda p, mode="r", *a, **k: Spy(real_open(p, mode)))
    assert next(corpora.read_lines(path)).text == "first"
    assert reads == [16]


def test_paragraphs_split_on_blank_lines(tmp_path, small_chunks):
    path = tmp_path / "p.txt"
    path.write_text("one a\none b\n\n \t \nthree\n\n\n\nfour\n")
    docs = list(corpora.read_paragraphs(path))
    assert [(d.text, d.metadata["line"], d.metadata["index"]) for d in docs] == [
        ("one a\none b", 1, 0), ("three", 5, 1), ("four\n", 9, 2)
    ]  # fmt: skip


def test_custom_delimiter_string_and_regex(tmp_path, small_chunks):
    path = tmp_path / "d.txt"
    path.write_text("a1\n---\nb2\n---\nc3")
    assert [d.text for d in corpora.read_delimited(path, "\n---\n")] == ["a1", "b2", "c3"]
    docs = corpora.read_delimited(path, re.compile(r"\d\n?(-+\n)?"))
    assert [d.text for d in docs] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"delimiter 'x\*' matches the empty string"):
        list(corpora.read_delimited(path, re.compile("x*")))


def test_jsonl_text_field_and_metadata(tmp_path, small_chunks):
    path = tmp_path / "d.jsonl"
    rows = [{"text": "héllo", "date": "2024-01-02", "id": 7}, {"id": 8, "text": "bye"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    docs = list(corpora.read_jsonl(path))
    assert docs == [
        Document("héllo", {"date": "2024-01-02", "id": 7, "path": str(path), "line": 1}),
        Document("bye", {"id": 8, "path": str(path), "line": 2}),
    ]
    with pytest.raises(ValueError) as e:
        list(corpora.read_jsonl(path, text_field="body"))
    assert str(e.value) == (
        f"{path} line 1 has no field 'body'; its fields are ['date', 'id', 'text']: pass one of "
        "them as text_field."
    )
    path.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"line 2 is not valid JSON \(Expecting value"):
        list(corpora.read_jsonl(path))


def test_json_array_streamed_item_by_item(tmp_path, small_chunks):
    path = tmp_path / "d.json"
    rows = [{"text": "a b", "n": 12345}, {"text": "c", "tags": ["x", "]"]}]
    path.write_text(" [\n" + ",\n ".join(json.dumps(r) for r in rows) + "\n] \n")
    assert list(corpora.read_json(path)) == [
        Document("a b", {"n": 12345, "path": str(path), "index": 0}),
        Document("c", {"tags": ["x", "]"], "path": str(path), "index": 1}),
    ]
    path.write_text('{"text": "not an array"}')
    with pytest.raises(ValueError, match=r"not a JSON array of objects: expected '\['"):
        list(corpora.read_json(path))
    path.write_text('[{"text": "a"} {"text": "b"}]')
    with pytest.raises(ValueError, match=r"expected ',' or '\]' at item 1"):
        list(corpora.read_json(path))
    path.write_text('[{"text": 3}]')
    with pytest.raises(ValueError, match=r"item 0 field 'text' is a int, not a string"):
        list(corpora.read_json(path))


def test_csv_text_column_quoted_newlines(tmp_path, small_chunks):
    path = tmp_path / "d.csv"
    path.write_text('id,text,date\n1,"two\nlines, and a comma",2024-03-01\n2,plain,2024-04-01\n')
    assert list(corpora.read_csv(path)) == [
        Document("two\nlines, and a comma", {"id": "1", "date": "2024-03-01", "path": str(path),
                                             "row": 1}),
        Document("plain", {"id": "2", "date": "2024-04-01", "path": str(path), "row": 2}),
    ]  # fmt: skip
    with pytest.raises(ValueError) as e:
        list(corpora.read_csv(path, text_column="body"))
    assert str(e.value) == (
        f"{path} has no column 'body'; its columns are ['id', 'text', 'date']: pass one of them "
        "as text_column."
    )


def test_csv_quote_that_never_closes_names_the_line_where_it_opens(tmp_path, small_chunks):
    # Bug: an unterminated quote swallowed the rest of the file as one document, silently.
    path = tmp_path / "q.csv"
    path.write_text('id,text\n1,fine\n2,"never closed\n3,lost\n4,lost\n')
    with pytest.raises(ValueError) as e:
        list(corpora.read_csv(path))
    assert str(e.value) == (
        f"{path} line 3 opens a quoted field that never closes, so the rest of the file would be "
        "read as one field; close the quote (a quote inside a quoted field is written twice) or "
        "pass quoting=csv.QUOTE_NONE if quotes are plain text."
    )
    with pytest.raises(ValueError, match=r"q.csv line 3 opens a quoted field that never closes"):
        list(corpora.read_csv(path, strict=False))
    path.write_text('id,text\n1,"two\nlines"\n2,"x')  # closed once, then open at the very end
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"q.csv line 4 opens a quoted field that never"):
            list(corpora.read_csv(path, strict=strict))
    path.write_text('id,"text\n1,a\n')  # in the header
    with pytest.raises(ValueError, match=r"q.csv line 1 opens a quoted field that never closes"):
        list(corpora.read_csv(path))
    # A later quote "closes" the open one: rows 3 and 4 would silently join row 2.
    path.write_text('id,text\n1,fine\n2,"never closed\n3,lost\n4,"quoted" words\n')
    with pytest.raises(ValueError) as e:
        list(corpora.read_csv(path))
    assert str(e.value) == (
        f"{path}, row 2 from line 3, is not valid CSV at line 5 (',' expected after '\"'); "
        "fix the quoting there (a quote inside a quoted field is written twice), or pass the csv "
        "options that fit the file (delimiter, quotechar, strict=False)."
    )


def test_csv_field_past_the_csv_limit_names_the_row_and_line(tmp_path):
    # An open quote before more than csv.field_size_limit() characters raised a bare csv.Error.
    path = tmp_path / "big.csv"
    path.write_text('id,text\n1,ok\n2,"open\n' + "x" * 200_000 + "\n")
    with pytest.raises(
        ValueError, match=r"big.csv, row 2 from line 3, is not valid CSV at line 4 \("
    ):
        list(corpora.read_csv(path, strict=False))


def test_missing_file_folder_and_unknown_encoding_are_one_sentence(tmp_path):
    # Bug: raw FileNotFoundError / IsADirectoryError / LookupError, from every reader.
    path = tmp_path / "missing.txt"
    with pytest.raises(ValueError) as e:
        list(corpora.read_lines(path))
    assert str(e.value) == f"No file at {path}; pass the path of an existing file."
    with pytest.raises(ValueError, match=r"^No file at missing.csv \(relative to /"):
        list(corpora.read_csv("missing.csv"))
    with pytest.raises(ValueError, match=r"is a folder, not a file; pass a file, or read the"):
        list(corpora.read_jsonl(tmp_path))
    path.write_text("a\n")
    with pytest.raises(ValueError) as e:
        list(corpora.read_lines(path, encoding="utf-9"))
    assert str(e.value) == (
        f"Cannot read {path} with encoding='utf-9' and errors='strict' (unknown encoding: utf-9); "
        "pass a codec Python knows, such as encoding='utf-8', 'latin-1' or 'cp1252', and "
        "errors='strict' or 'replace'."
    )
    with pytest.raises(ValueError, match=r"errors='skip' \(unknown error handler name 'skip'\)"):
        list(corpora.read_paragraphs(path, errors="skip"))


def test_undecodable_bytes_name_file_and_offset(tmp_path, small_chunks):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xc3\xa9t\xff\xfeend\n")  # 'é' spans chunks 1-2; 0xff is at offset 6
    with pytest.raises(ValueError) as e:
        list(corpora.read_lines(path))
    assert str(e.value) == (
        f"{path} has bytes that are not valid utf-8 at byte offset 6 (b'\\xff'); fix the file, "
        "pass the right encoding, or pass errors='replace' to read them as U+FFFD."
    )
    texts = [d.text for d in corpora.read_lines(path, errors="replace")]
    assert texts == ["ok", "ét\ufffd\ufffdend"]


def test_truncated_multibyte_at_end_of_file_is_reported(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes(b"abc\xe2\x82")  # a 3-byte character cut after 2 bytes, at offset 3
    with pytest.raises(ValueError, match=r"not valid utf-8 at byte offset 3 \(b'\\xe2\\x82'\)"):
        list(corpora.read_lines(path))


def test_empty_documents_skipped_and_counted_or_refused(tmp_path, monkeypatch):
    path = tmp_path / "e.txt"
    path.write_text("a\n   \n\nb\n")
    warnings = []
    monkeypatch.setattr(corpora.logging, "warning", lambda msg, *a: warnings.append(msg % a))
    assert [d.text for d in corpora.read_lines(path)] == ["a", "b"]
    assert warnings == [f"Skipped 2 empty documents in {path}."]
    with pytest.raises(ValueError) as e:
        list(corpora.read_lines(path, skip_empty=False))
    assert str(e.value) == (
        f"{path} line 2 is an empty document; remove it, or pass skip_empty=True to skip empty "
        "documents (and count them)."
    )


def test_empty_corpus_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n \n")
    with pytest.raises(ValueError) as e:
        list(corpora.read_lines(path))
    assert str(e.value) == (
        f"{path} contains no documents (2 empty ones skipped); check the path, the file pattern "
        "and the text field."
    )
    with pytest.raises(ValueError, match=r"\(\*\.txt\) contains no documents \(0 empty"):
        list(corpora.read_folder(_empty_dir(tmp_path)))
    with pytest.raises(ValueError, match="is not a folder"):
        list(corpora.read_folder(tmp_path / "missing"))
    (tmp_path / "e.json").write_text("[]")
    with pytest.raises(ValueError, match=r"e.json contains no documents \(0 empty"):
        list(corpora.read_json(tmp_path / "e.json"))


def _empty_dir(tmp_path):
    folder = tmp_path / "nothing"
    folder.mkdir()
    return folder
