"""Tests for research/models/convert/hf_checkpoint.py: folders written and read back exactly (and
read by Hugging Face's own safetensors loader), atomic refusal to overwrite, and each bad checkpoint
named in one sentence."""

import json

import numpy as np
import pytest

from research.models.convert.hf_checkpoint import TensorSource, read_folder, write_folder
from tests.reference_packages import import_reference


def _tensors():
    return {
        "a.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b.bias": np.array([1.5, -2.0], np.float32),
    }


def test_write_then_read_is_exact(tmp_path):
    folder = write_folder(tmp_path / "out", {"model_type": "toy", "n": 2}, _tensors())
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config, tensors = read_folder(folder)
    assert config == {"model_type": "toy", "n": 2}
    assert tensors.keys() == _tensors().keys()
    for name, value in _tensors().items():
        np.testing.assert_array_equal(tensors[name], value)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


def test_reads_pytorch_bin_folders(tmp_path):
    torch = import_reference("torch")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy"}))
    torch.save({k: torch.tensor(v) for k, v in _tensors().items()}, tmp_path / "pytorch_model.bin")
    _, tensors = read_folder(tmp_path)
    np.testing.assert_array_equal(tensors["a.weight"], _tensors()["a.weight"])


def test_existing_folder_is_never_overwritten(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(ValueError, match="already exists; choose a new path"):
        write_folder(target, {}, _tensors())
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(Exception):  # noqa: B017  (safetensors refuses object arrays)
        write_folder(tmp_path / "out", {}, {"bad": np.array([object()])})
    assert list(tmp_path.iterdir()) == []


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="has no config.json"):
        read_folder(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="has no weights: expected model.safetensors"):
        read_folder(tmp_path)


def test_tensor_source_names_missing_misshapen_and_unexpected_tensors():
    source = TensorSource(
        {"model.a.weight": _tensors()["a.weight"]}, "Toy", strip_prefixes=("model.",)
    )
    with pytest.raises(ValueError, match=r"Toy checkpoint has no tensor 'b.bias'"):
        source.take("b.bias", (2,))
    with pytest.raises(
        ValueError, match=r"'a.weight' has shape \(2, 3\), the config expects \(3, 2\)"
    ):
        source.take("a.weight", (3, 2))
    source = TensorSource(_tensors(), "Toy")
    np.testing.assert_array_equal(source.take("a.weight", (2, 3)), _tensors()["a.weight"])
    with pytest.raises(
        ValueError, match=r"1 unexpected tensor\(s\) the model does not use: 'b.bias'"
    ):
        source.finish()
    source.finish(ignore=("b.bias",))
