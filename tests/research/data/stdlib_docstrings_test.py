import collections
import textwrap

import pytest

from research.data import stdlib_docstrings

SPLITS = stdlib_docstrings.SPLITS
LONG = "x" * stdlib_docstrings.MIN_CHARS  # just long enough to be kept


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The real corpus, prepared once: (data_dir, {split: documents}, documents from the source)."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    loaded = {split: stdlib_docstrings.load_documents(split, data_dir) for split in SPLITS}
    return data_dir, loaded, stdlib_docstrings._documents()


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_extract_docstrings_ids_kinds_and_cleaned_text():
    source = '''
        """Module doc."""
        import sys

        class Reader:
            """Reads.

            Line one.
                Indented more.
            """

            def read(self):
                """Return a line."""

            def _quiet(self):
                pass

        if sys.platform == "win32":
            def helper():
                """Windows helper."""
        else:
            def helper():
                """Posix helper."""

        async def fetch():
            """Fetch it."""
            def inner():
                """Inner doc."""
    '''
    docs = stdlib_docstrings.extract_docstrings("pkg.io", textwrap.dedent(source))
    assert [(d["id"], d["kind"], d["text"]) for d in docs] == [
        ("pkg.io", "module", "Module doc."),
        # cleandoc removes the common indentation of the lines after the first (keeping relative
        # indentation) and the trailing blank line
        ("pkg.io.Reader", "class", "Reads.\n\nLine one.\n    Indented more."),
        ("pkg.io.Reader.read", "function", "Return a line."),
        # a definition inside `if` is found; the second definition of a name does not replace it
        ("pkg.io.helper", "function", "Windows helper."),
        ("pkg.io.fetch", "function", "Fetch it."),
        ("pkg.io.fetch.inner", "function", "Inner doc."),
    ]
    assert {d["package"] for d in docs} == {"pkg"}


def test_source_files_skip_tests_gui_and_extensions_without_importing(tmp_path):
    write(tmp_path, "alpha.py", "")
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/sub.py", "")
    write(tmp_path, "pkg/tests/__init__.py", "")  # a test package at depth 2
    write(tmp_path, "pkg/tests/test_sub.py", "")
    write(tmp_path, "test/__init__.py", "")
    write(tmp_path, "tkinter/__init__.py", "")
    write(tmp_path, "this.py", "")
    write(tmp_path, "site-packages/other.py", "")
    (tmp_path / "fast.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    # a module whose import would fail: reading it with ast must not run it
    write(tmp_path, "boom.py", f'"""{LONG}"""\nraise SystemExit("imported!")\n')
    files = stdlib_docstrings.source_files(str(tmp_path))
    assert [name for name, _ in files] == ["alpha", "boom", "pkg", "pkg.sub"]
    assert files[2][1] == str(tmp_path / "pkg" / "__init__.py")
    docs = stdlib_docstrings._documents(str(tmp_path))
    assert [d["id"] for d in docs] == ["boom"]


def test_documents_filter_short_texts_and_keep_one_copy_of_a_repeated_text(tmp_path):
    short = "y" * (stdlib_docstrings.MIN_CHARS - 1)
    write(tmp_path, "b.py", f'def f():\n    """{LONG}"""\ndef g():\n    """{short}"""\n')
    write(tmp_path, "a.py", f'def z():\n    """{LONG}"""\ndef w():\n    """{LONG}!"""\n')
    docs = stdlib_docstrings._documents(str(tmp_path))
    # 'b.f' repeats 'a.z' (smaller id wins, whatever the file order); 'b.g' is one char short
    assert [(d["id"], d["text"]) for d in docs] == [("a.w", LONG + "!"), ("a.z", LONG)]


def test_split_of_is_a_fixed_function_of_the_id():
    ids = [f"module{i}.function" for i in range(2000)]
    counts = collections.Counter(stdlib_docstrings.split_of(i) for i in ids)
    assert set(counts) == {"train", "validation", "test"}
    assert 0.77 < counts["train"] / 2000 < 0.83 and 0.08 < counts["test"] / 2000 < 0.12
    # pinned values: a change of hash or bucket order would silently move documents across splits
    pinned = {"json": "train", "json.loads": "train", "c.h": "validation", "os.path.join": "test"}
    assert {i: stdlib_docstrings.split_of(i) for i in pinned} == pinned


def test_prepared_splits_are_disjoint_complete_and_follow_split_of(prepared):
    _, loaded, documents = prepared
    assert len(documents) > 3000  # 4,411 on CPython 3.11.7
    ids = {split: [d["id"] for d in docs] for split, docs in loaded.items()}
    for split, split_ids in ids.items():
        assert split_ids == sorted(split_ids)
        assert {stdlib_docstrings.split_of(i) for i in split_ids} == {split}
    assert sorted(sum(loaded.values(), []), key=lambda d: d["id"]) == documents  # all, unchanged
    assert len({d["text"] for d in documents}) == len(documents)  # no text in two splits
    assert {d["kind"] for d in documents} == set(stdlib_docstrings.KINDS)
    skipped = stdlib_docstrings.SKIP
    # (functions may be called `test`, as cgi.test: only packages and modules are skipped)
    assert not [d for d in documents if d["package"] in skipped or ".tests." in d["id"]]
    assert {"lib2to3.btm_matcher", "ctypes._aix.find_library", "json"} <= {
        d["id"] for d in documents
    }
    assert all(d["package"] == d["id"].split(".")[0] for d in documents)
    assert min(len(d["text"]) for d in documents) >= stdlib_docstrings.MIN_CHARS


def test_load_examples_and_texts_are_aligned_with_documents(prepared):
    data_dir, loaded, _ = prepared
    texts, labels = stdlib_docstrings.load_examples("test", data_dir)
    assert (
        texts
        == [d["text"] for d in loaded["test"]]
        == stdlib_docstrings.load_texts("test", data_dir)
    )
    assert labels == [d["package"] for d in loaded["test"]]
    json_doc = next(d for d in loaded[stdlib_docstrings.split_of("json")] if d["id"] == "json")
    assert json_doc["kind"] == "module" and json_doc["text"].startswith("JSON (JavaScript")


def test_second_call_reuses_prepared_data(prepared, monkeypatch):
    data_dir, loaded, _ = prepared

    def fail(self, documents):
        raise AssertionError("regenerated a prepared dataset")

    monkeypatch.setattr(stdlib_docstrings.StdlibDocstrings, "_generate_examples", fail)
    assert stdlib_docstrings.load_documents("validation", data_dir) == loaded["validation"]


def fake_documents(root=None):
    names = ["a.f", "b.g", "c.h", "d.i", "e.j", "f.k", "g.l", "h.m", "i.n", "j.o", "k.p", "l.q"]
    return [{"id": n, "text": f"{n} {LONG}", "package": n[0], "kind": "function"} for n in names]


def test_preparation_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setattr(stdlib_docstrings, "_documents", fake_documents)
    for name in ("a", "b"):
        stdlib_docstrings.load_texts("train", str(tmp_path / name))
    version = f"stdlib_docstrings/{stdlib_docstrings.config_name()}/1.0.0"
    for split in stdlib_docstrings.SPLITS:
        file = f"{version}/stdlib_docstrings-{split}.array_record-00000-of-00001"
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_failed_preparation_leaves_no_dataset_that_looks_complete(tmp_path, monkeypatch):
    monkeypatch.setattr(stdlib_docstrings, "_documents", fake_documents)
    generate = stdlib_docstrings.StdlibDocstrings._generate_examples

    def crash_midway(self, documents):
        yield documents[0]["id"], {**documents[0], "text": "partial"}
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(stdlib_docstrings.StdlibDocstrings, "_generate_examples", crash_midway)
        with pytest.raises(RuntimeError, match="killed"):
            stdlib_docstrings.load_texts("train", str(tmp_path))
    version_dir = tmp_path / "stdlib_docstrings" / stdlib_docstrings.config_name() / "1.0.0"
    assert not version_dir.exists()
    assert stdlib_docstrings.StdlibDocstrings._generate_examples is generate
    texts = stdlib_docstrings.load_texts("train", str(tmp_path))  # prepares again, completely
    expected = [d for d in fake_documents() if stdlib_docstrings.split_of(d["id"]) == "train"]
    assert texts == [d["text"] for d in expected] and "partial" not in texts


def test_config_name_tracks_the_sources(tmp_path):
    write(tmp_path, "a.py", '"""one"""')
    first = stdlib_docstrings.config_name(str(tmp_path))
    assert first == stdlib_docstrings.config_name(str(tmp_path))
    write(tmp_path, "a.py", '"""two"""')
    assert stdlib_docstrings.config_name(str(tmp_path)) != first
    assert stdlib_docstrings.config_name().startswith("py3")


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'dev' is not one of"):
        stdlib_docstrings.load_texts("dev", str(tmp_path))
