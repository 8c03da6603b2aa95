"""Docstrings of Python's own standard library as a labelled TFDS dataset, offline.

Every module, class and function docstring of the stdlib's pure-Python sources (read with `ast`,
nothing is imported), cleaned by `inspect.cleandoc` and kept when it has at least `MIN_CHARS`
characters. One example per docstring:

  id       the dotted path, e.g. 'json.decoder.JSONDecoder.decode' (module docstrings: the module)
  text     the docstring
  package  the top-level module or package, e.g. 'json' (the label for text classification)
  kind     'module', 'class' or 'function'

Skipped: test packages (`test`, `tests`, `idle_test`), GUI code (`idlelib`, `tkinter`,
`turtledemo`, `turtle`), `site-packages`, and joke/demo modules (`antigravity`, `this`,
`__hello__`, `__phello__`). A text that occurs more than once (the same docstring on several
overloads or subclasses) is kept once, under its smallest id, so no text is in two splits.
On CPython 3.11.7: 4,411 documents, 1.38 MB of text (train/validation/test: 3,521 / 451 / 439)
from 632 source files.

Splits are by a hash of the id (sha256; 8 buckets of 10 to 'train', 1 to 'validation', 1 to
'test'), so a document keeps its split when others are added or removed. Stored as array_record,
which TFDS writes and reads without TensorFlow.

The stdlib differs between Python releases, so the builder config is named after the running Python
and a hash of the source files read: a data_dir prepared by one release is never read as another's.
TFDS prepares into `<name>/<config>/incomplete.<random>_1.0.0` and renames it to `1.0.0` only when
every split is written, so a killed preparation leaves nothing that looks complete.
"""

import ast
import hashlib
import os
import pkgutil
import sys
import sysconfig

import tensorflow_datasets as tfds
from etils import epath

# Part of the dataset's definition: changing any of these must bump VERSION.
MIN_CHARS = 60
SKIP = frozenset(
    {"test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "turtle", "site-packages"}
    | {"antigravity", "this", "__hello__", "__phello__"}
)
SPLITS = ("train", "validation", "test")
_BUCKETS = ("train",) * 8 + ("validation", "test")
KINDS = ("module", "class", "function")


def stdlib_dir() -> str:
    """The running Python's standard library folder (the base install's, also inside a venv)."""
    return sysconfig.get_path("stdlib")


def source_files(root: str | None = None) -> list[tuple[str, str]]:
    """(dotted module name, path) of every .py module under `root` (default: the stdlib), sorted.

    Walks with `pkgutil.iter_modules`, which lists modules without importing them; a package
    contributes its `__init__.py` and its submodules, skipping names in `SKIP` at any depth.
    """
    found = []

    def walk(path: str, prefix: str) -> None:
        for info in pkgutil.iter_modules([path]):
            if info.name in SKIP:
                continue
            name = prefix + info.name
            if info.ispkg:
                package_dir = os.path.join(path, info.name)
                init = os.path.join(package_dir, "__init__.py")
                if os.path.isfile(init):
                    found.append((name, init))
                walk(package_dir, name + ".")
            else:
                file = os.path.join(path, info.name + ".py")
                if os.path.isfile(file):  # extension modules (.so) have no source to read
                    found.append((name, file))

    walk(root or stdlib_dir(), "")
    return sorted(found)


def extract_docstrings(module: str, source: str | bytes) -> list[dict[str, str]]:
    """Docstrings of one module's source, in source order, before any length filter.

    Returns [{'id', 'text', 'package', 'kind'}]; ids are `module.Class.method` qualified names
    (definitions nested in `if` / `try` blocks included); a name defined twice keeps its first
    docstring. Raises SyntaxError when `source` does not parse.
    """
    package = module.split(".")[0]
    documents: dict[str, dict[str, str]] = {}

    def add(doc_id: str, node: ast.AST, kind: str) -> None:
        text = ast.get_docstring(node, clean=True)
        if text and text.strip() and doc_id not in documents:
            documents[doc_id] = {
                "id": doc_id,
                "text": text.strip(),
                "package": package,
                "kind": kind,
            }

    def visit(node: ast.AST, qualname: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                child_name = f"{qualname}.{child.name}"
                add(child_name, child, "class" if isinstance(child, ast.ClassDef) else "function")
                visit(child, child_name)
            else:
                visit(child, qualname)

    tree = ast.parse(source)
    add(module, tree, "module")
    visit(tree, module)
    return list(documents.values())


def _documents(root: str | None = None) -> list[dict[str, str]]:
    """Every kept document of the stdlib, sorted by id (see the module docstring for the rules)."""
    by_text: dict[str, dict[str, str]] = {}
    for module, path in source_files(root):
        with open(path, "rb") as f:
            source = f.read()
        for doc in extract_docstrings(module, source):
            if len(doc["text"]) >= MIN_CHARS:
                kept = by_text.get(doc["text"])
                if kept is None or doc["id"] < kept["id"]:
                    by_text[doc["text"]] = doc
    return sorted(by_text.values(), key=lambda doc: doc["id"])


def config_name(root: str | None = None) -> str:
    """Name of this Python's corpus, e.g. 'py311_1a2b3c4d' (release and hash of the sources read).

    Hashes the files' names and bytes rather than the parsed docstrings: about 10 MB read in a
    few tens of milliseconds, where parsing takes over a second, and it runs at import.
    """
    digest = hashlib.sha256()
    for module, path in source_files(root):
        with open(path, "rb") as f:
            digest.update(f"{module}\0".encode() + f.read() + b"\0")
    return f"py{sys.version_info.major}{sys.version_info.minor}_{digest.hexdigest()[:8]}"


def split_of(doc_id: str) -> str:
    """The split of a document id: 'train', 'validation' or 'test' (80/10/10 by sha256)."""
    bucket = int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big") % len(_BUCKETS)
    return _BUCKETS[bucket]


class StdlibDocstrings(tfds.core.GeneratorBasedBuilder):
    """TFDS builder `stdlib_docstrings`: {'id','text','package','kind'}; train/validation/test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    # TFDS 4.9.10 finds a package builder's file through `importlib_resources`, a backport it no
    # longer installs on Python >= 3.9; naming the file here skips that lookup.
    code_path = epath.Path(__file__)
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=config_name(), description="Stdlib docstrings of this Python.")
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="Docstrings of Python's standard library labelled by top-level package.",
            features=tfds.features.FeaturesDict(
                {
                    "id": tfds.features.Text(),
                    "text": tfds.features.Text(),
                    "package": tfds.features.Text(),
                    "kind": tfds.features.Text(),
                }
            ),
            homepage="https://docs.python.org/3/library/",
            disable_shuffling=True,  # keep the sorted generation order on disk
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the sources ship with Python
        by_split = {split: [] for split in SPLITS}
        for doc in _documents():
            by_split[split_of(doc["id"])].append(doc)
        return {split: self._generate_examples(by_split[split]) for split in SPLITS}

    def _generate_examples(self, documents):
        for doc in documents:
            yield doc["id"], doc


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}; pass one of them.")


def load_documents(split: str, data_dir: str | None = None) -> list[dict[str, str]]:
    """Documents {'id','text','package','kind'} of `split`, sorted by id; prepares on first use.

    data_dir None means TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR).
    """
    _check_split(split)
    builder = StdlibDocstrings(data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()  # returns at once when the dataset is already there
    source = builder.as_data_source(split)
    examples = source.__getitems__(range(len(source)))
    return [{key: value.decode("utf-8") for key, value in ex.items()} for ex in examples]


def load_texts(split: str, data_dir: str | None = None) -> list[str]:
    """Texts of `split`, in id order; prepares the dataset in `data_dir` on first use."""
    return [doc["text"] for doc in load_documents(split, data_dir)]


def load_examples(split: str, data_dir: str | None = None) -> tuple[list[str], list[str]]:
    """(texts, packages) of `split`, in id order: labelled examples for text classification."""
    documents = load_documents(split, data_dir)
    return [doc["text"] for doc in documents], [doc["package"] for doc in documents]
