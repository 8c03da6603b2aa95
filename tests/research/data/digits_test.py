import numpy as np
import pytest
from sklearn.datasets import load_digits

from research.data import digits


def test_splits_match_scikit_learn_and_are_disjoint_and_complete(tmp_path):
    reference = load_digits()
    indices = digits.split_indices(len(reference.target))
    assert len(indices["test"]) == 180 and len(indices["train"]) == 1617
    assert not set(indices["train"]) & set(indices["test"])
    assert sorted(np.concatenate([indices["train"], indices["test"]])) == list(range(1797))
    for split in ("train", "test"):
        arrays = digits.load_arrays(split, str(tmp_path))
        assert arrays["image"].dtype == np.float32 and arrays["label"].dtype == np.int32
        np.testing.assert_array_equal(arrays["image"], reference.data[indices[split]] / 16)
        np.testing.assert_array_equal(arrays["label"], reference.target[indices[split]])
        assert arrays["image"].min() == 0.0 and arrays["image"].max() == 1.0


def test_preparation_is_deterministic(tmp_path):
    for name in ("a", "b"):
        digits.load_arrays("test", str(tmp_path / name))
    for split in ("train", "test"):
        file = f"digits/1.0.0/digits-{split}.array_record-00000-of-00001"
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_second_call_reuses_prepared_data(tmp_path, monkeypatch):
    first = digits.load_arrays("test", str(tmp_path))

    def fail(self, data, indices):
        raise AssertionError("regenerated a prepared dataset")

    monkeypatch.setattr(digits.Digits, "_generate_examples", fail)
    second = digits.load_arrays("test", str(tmp_path))
    np.testing.assert_array_equal(second["image"], first["image"])


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'validation' is not one of"):
        digits.load_arrays("validation", str(tmp_path))
