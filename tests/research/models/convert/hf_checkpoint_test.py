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


def test_truncated_or_damaged_safetensors_are_named(tmp_path):
    # Bug: a cut-short download raised safetensors' bare "incomplete metadata" with no file name.
    folder = write_folder(tmp_path / "out", {"model_type": "toy"}, _tensors())
    weights = folder / "model.safetensors"
    whole = weights.read_bytes()  # 8-byte length + 128-byte JSON header + 32 bytes of data
    assert len(whole) == 168
    for size, needed in ((164, 168), (20, 136), (3, 8)):
        weights.write_bytes(whole[:size])
        with pytest.raises(ValueError) as e:
            read_folder(folder)
        assert str(e.value) == (
            f"{str(weights)!r} is truncated: it holds {size} bytes but needs at least {needed} by "
            "its header; copy the file again from the model's source."
        )
    weights.write_bytes(b"an HTML error page, not weights")
    with pytest.raises(ValueError, match=r"safetensors' is not a valid safetensors file \(Error"):
        read_folder(folder)


def test_broken_config_json_and_shard_index_are_named_with_the_line(tmp_path):
    # Bug: json.JSONDecodeError / KeyError from read_folder, naming no file.
    folder = write_folder(tmp_path / "out", {"model_type": "toy"}, _tensors())
    config = folder / "config.json"
    config.write_text('{\n  "model_type": "gpt2",\n  "n_embd": 16\n')  # cut short
    with pytest.raises(ValueError) as e:
        read_folder(folder)
    assert str(e.value) == (
        f"{str(config)!r} is not valid JSON at line 4 column 1 (Expecting ',' delimiter), perhaps "
        "cut short; fix that line or copy the file again from the model's source."
    )
    config.write_bytes(b'{"model_type": "\xff"}')
    with pytest.raises(
        ValueError, match=r"config.json' is not UTF-8 text \(a bad byte at offset 16"
    ):
        read_folder(folder)
    config.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config.json' holds a JSON list, not an object; copy"):
        read_folder(folder)
    config.write_text("{}")
    (folder / "model.safetensors").rename(folder / "shard-1.safetensors")
    index = folder / "model.safetensors.index.json"
    index.write_text('{"metadata": {}}')
    with pytest.raises(ValueError, match=r"index.json' has no 'weight_map' object \(tensor name"):
        read_folder(folder)
    index.write_text(json.dumps({"weight_map": {"a": "shard-1.safetensors", "b": "shard-2.x"}}))
    with pytest.raises(ValueError, match=r"shard-2.x' is missing, though model.safetensors.index"):
        read_folder(folder)


def test_truncated_pytorch_bin_is_named(tmp_path):
    torch = import_reference("torch")
    (tmp_path / "config.json").write_text("{}")
    bin_file = tmp_path / "pytorch_model.bin"
    torch.save({k: torch.tensor(v) for k, v in _tensors().items()}, bin_file)
    bin_file.write_bytes(bin_file.read_bytes()[:100])
    with pytest.raises(
        ValueError, match=r"pytorch_model.bin' cannot be read by torch.load \("
    ) as e:
        read_folder(tmp_path)
    assert ". " not in str(e.value)  # one sentence: torch's own advice is left out


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
