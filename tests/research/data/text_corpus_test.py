"""Tests for research/data/text_corpus.py: the embedded corpus, a prepared TFDS dataset by name, and
clear refusals for everything that would otherwise download or fail deep inside TFDS."""

import pytest
import tensorflow_datasets as tfds
from etils import epath

from research.data import pydoc_topics, stdlib_docstrings, text_corpus

DOCS = {
    "train": ["first document", "second – with unicode ✓", "third"],
    "test": ["held out"],
}


class TinyTextCorpusForTests(tfds.core.GeneratorBasedBuilder):
    """A two-split text dataset, defined here like research/data/pydoc_topics.py defines its own."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    code_path = epath.Path(__file__)  # see pydoc_topics: TFDS cannot locate a test module's file

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {"title": tfds.features.Text(), "body": tfds.features.Text()}
            ),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {split: self._generate_examples(docs) for split, docs in DOCS.items()}

    def _generate_examples(self, docs):
        for i, doc in enumerate(docs):
            yield i, {"title": f"doc {i}", "body": doc}


NAME = "tiny_text_corpus_for_tests"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    TinyTextCorpusForTests(data_dir=str(path), file_format="array_record").download_and_prepare()
    return str(path)


def test_stdlib_docstrings_is_embedded_too(tmp_path):
    texts = text_corpus.load_texts("stdlib_docstrings", "test", data_dir=str(tmp_path))
    assert texts == stdlib_docstrings.load_texts("test", str(tmp_path))
    assert len(texts) > 100


def test_pydoc_topics_is_the_embedded_builder(tmp_path):
    texts = text_corpus.load_texts("pydoc_topics", "validation", data_dir=str(tmp_path))
    assert texts == pydoc_topics.load_texts("validation", str(tmp_path))
    assert (tmp_path / "pydoc_topics").is_dir()  # prepared where it was asked to be


def test_a_prepared_dataset_loads_by_name_in_stored_order(data_dir):
    assert TinyTextCorpusForTests.name == NAME
    for split, docs in DOCS.items():
        assert text_corpus.load_texts(NAME, split, data_dir=data_dir, text_key="body") == docs
    titles = text_corpus.load_texts(NAME, "train", data_dir=data_dir, text_key="title")
    assert titles == ["doc 0", "doc 1", "doc 2"]


def test_unknown_name_is_named_in_the_error(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"(?s)^TFDS dataset 'no_such_corpus_xyz' could not be opened.*\['pydoc_topics', 'stdlib_docstrings'\]\.$",
    ):
        text_corpus.load_texts("no_such_corpus_xyz", "train", data_dir=str(tmp_path))


def test_unknown_name_error_is_one_short_line(tmp_path):
    with pytest.raises(ValueError) as error:
        text_corpus.load_texts("no_such_corpus_xyz", "train", data_dir=str(tmp_path))
    assert "\n" not in str(error.value) and len(str(error.value)) < 600


def test_unprepared_dataset_is_refused_with_the_build_command(tmp_path):
    with pytest.raises(
        ValueError,
        match=rf"'{NAME}' is not prepared.*`tfds build {NAME} --file_format=array_record",
    ):
        text_corpus.load_texts(NAME, "train", data_dir=str(tmp_path), text_key="body")
    assert not (tmp_path / NAME).exists() or not any((tmp_path / NAME).rglob("*.array_record*"))


def test_wrong_text_key_lists_the_features(data_dir):
    with pytest.raises(
        ValueError,
        match=r"no feature 'text'; set --config.data.text_key to one of \['body', 'title'\]",
    ):
        text_corpus.load_texts(NAME, "train", data_dir=data_dir)


def test_wrong_split_lists_the_splits(data_dir):
    with pytest.raises(
        ValueError, match=r"has no split 'validation'; choose one of \['test', 'train'\]"
    ):
        text_corpus.load_texts(NAME, "validation", data_dir=data_dir, text_key="body")
