from pydoc_data import topics

import numpy as np
import pytest

from research.data import pydoc_topics
from research.text.byte_tokenizer import ByteTokenizer


def version_dir(data_dir):
    return data_dir / "pydoc_topics" / pydoc_topics.config_name() / "1.0.0"


def test_splits_are_disjoint_complete_and_90_10_by_document(tmp_path):
    train = pydoc_topics.load_documents("train", str(tmp_path))
    validation = pydoc_topics.load_documents("validation", str(tmp_path))
    n = len(topics.topics)
    assert len(validation) == round(0.1 * n) and len(train) == n - len(validation)
    assert not set(train) & set(validation)
    assert {**train, **validation} == topics.topics  # ids and texts, unchanged
    assert list(train) == sorted(train)
    assert pydoc_topics.load_texts("validation", str(tmp_path)) == list(validation.values())


def test_preparation_is_deterministic(tmp_path):
    for name in ("a", "b"):
        pydoc_topics.load_texts("train", str(tmp_path / name))
    for split in ("train", "validation"):
        file = f"pydoc_topics-{split}.array_record-00000-of-00001"
        a = (version_dir(tmp_path / "a") / file).read_bytes()
        assert a == (version_dir(tmp_path / "b") / file).read_bytes()
    assert pydoc_topics.split_ids(topics.topics) == pydoc_topics.split_ids(reversed(topics.topics))


def test_second_call_reuses_prepared_data(tmp_path, monkeypatch):
    first = pydoc_topics.load_texts("train", str(tmp_path))

    def fail(self, doc_ids):
        raise AssertionError("regenerated a prepared dataset")

    monkeypatch.setattr(pydoc_topics.PydocTopics, "_generate_examples", fail)
    assert pydoc_topics.load_texts("train", str(tmp_path)) == first


def test_failed_preparation_leaves_no_dataset_that_looks_complete(tmp_path, monkeypatch):
    def crash_midway(self, doc_ids):
        yield doc_ids[0], {"id": doc_ids[0], "text": "partial"}
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(pydoc_topics.PydocTopics, "_generate_examples", crash_midway)
        with pytest.raises(RuntimeError, match="killed"):
            pydoc_topics.load_texts("train", str(tmp_path))
    assert not version_dir(tmp_path).exists()
    texts = pydoc_topics.load_texts("train", str(tmp_path))  # prepares again, completely
    assert len(texts) == len(topics.topics) - round(0.1 * len(topics.topics))
    assert "partial" not in texts


def test_load_tokens_is_the_byte_stream_of_the_documents(tmp_path):
    tokens = pydoc_topics.load_tokens("validation", str(tmp_path))
    texts = pydoc_topics.load_texts("validation", str(tmp_path))
    assert tokens.dtype == np.int32
    np.testing.assert_array_equal(tokens, ByteTokenizer().encode_documents(texts))
    assert np.sum(tokens == 256) == len(texts)


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'test' is not one of"):
        pydoc_topics.load_texts("test", str(tmp_path))
