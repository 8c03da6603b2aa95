"""Hugging Face checkpoint folders on local disk: read, check tensor by tensor, write atomically.

A Hugging Face model folder holds `config.json` and the weights as `model.safetensors` (or several
shards listed in `model.safetensors.index.json`), or as PyTorch's `pytorch_model.bin`. Nothing here
downloads: a folder is a path the user gives.

The converters (`hf_gpt2.py`, `hf_bert.py`, `hf_t5.py`) read tensors through `TensorSource`, which
names the tensor that is missing, misshapen or left over, so a wrong checkpoint is one clear
sentence instead of a silently half-loaded model; and they write through `write_folder`, which
never leaves a half-written folder nor overwrites an existing one.
"""

import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_FILE = "pytorch_model.bin"
SAFETENSORS_MAX_HEADER = 100_000_000  # bytes; safetensors refuses larger headers


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().float().numpy()
    return np.asarray(value)


AGAIN = "copy the file again from the model's source"  # what to do about a damaged file


def read_json_object(file: pathlib.Path) -> dict:
    """The JSON object in `file` (config.json, the shard index), or a one-sentence ValueError
    naming the file and, for broken JSON, the line and column."""
    try:
        value = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{str(file)!r} is not UTF-8 text (a bad byte at offset {e.start}), so it is not "
            f"JSON; {AGAIN}."
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{str(file)!r} is not valid JSON at line {e.lineno} column {e.colno} ({e.msg}), "
            f"perhaps cut short; fix that line or {AGAIN}."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{str(file)!r} holds a JSON {type(value).__name__}, not an object; {AGAIN}."
        )
    return value


def _safetensors_size(file: pathlib.Path) -> int | None:
    """The bytes a safetensors file needs by its header (8-byte length, JSON header, data), or
    None when even the header cannot be read."""
    with open(file, "rb") as f:
        length = f.read(8)
        if len(length) < 8:
            return 8
        header_end = 8 + int.from_bytes(length, "little")
        if header_end > 8 + SAFETENSORS_MAX_HEADER:
            return None  # not a length: not a safetensors file at all
        try:
            header = json.loads(f.read(header_end - 8))
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError):
            return header_end if file.stat().st_size < header_end else None
    return header_end + max(ends, default=0)


def _read_safetensors(file: pathlib.Path) -> dict[str, np.ndarray]:
    """name -> numpy array of one .safetensors file, or a one-sentence ValueError naming it."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not file.is_file():
        raise ValueError(
            f"{str(file)!r} is missing, though {SAFETENSORS_INDEX} lists it; copy every shard "
            "the index names into the folder."
        )
    try:
        return load_file(file)
    except SafetensorError as e:
        size, needed = file.stat().st_size, _safetensors_size(file)
        if needed is not None and size < needed:
            raise ValueError(
                f"{str(file)!r} is truncated: it holds {size} bytes but needs at least {needed} "
                f"by its header; {AGAIN}."
            ) from None
        raise ValueError(f"{str(file)!r} is not a valid safetensors file ({e}); {AGAIN}.") from None


def _read_torch(file: pathlib.Path) -> dict[str, np.ndarray]:
    """name -> numpy array of a pytorch_model.bin, or a one-sentence ValueError naming it."""
    import pickle

    import torch  # only for .bin checkpoints: PyTorch's pickle format

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        reason = (
            str(e).split(". ")[0].splitlines()[0] if str(e) else type(e).__name__
        )  # 1st sentence
        raise ValueError(
            f"{str(file)!r} cannot be read by torch.load ({reason}), so it is truncated or not a "
            f"PyTorch checkpoint; {AGAIN}."
        ) from None
    return {name: _as_numpy(value) for name, value in state.items()}


def read_folder(path) -> tuple[dict, dict[str, np.ndarray]]:
    """(config.json as a dict, name -> numpy array) from a local Hugging Face model folder.

    Every bad file (not JSON, truncated, a shard missing) is a one-sentence ValueError naming it.
    """
    folder = pathlib.Path(path)
    if not folder.is_dir():
        raise ValueError(f"Checkpoint folder {str(folder)!r} does not exist; give a local folder.")
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(f"Checkpoint folder {str(folder)!r} has no {CONFIG_FILE}.")
    config = read_json_object(folder / CONFIG_FILE)
    if (folder / SAFETENSORS_FILE).is_file():
        files = [folder / SAFETENSORS_FILE]
    elif (folder / SAFETENSORS_INDEX).is_file():
        index = read_json_object(folder / SAFETENSORS_INDEX)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise ValueError(
                f"{str(folder / SAFETENSORS_INDEX)!r} has no 'weight_map' object (tensor name -> "
                f"shard file); {AGAIN}."
            )
        files = [folder / name for name in sorted(set(weight_map.values()))]
    elif (folder / TORCH_FILE).is_file():
        return config, _read_torch(folder / TORCH_FILE)
    else:
        raise ValueError(
            f"Checkpoint folder {str(folder)!r} has no weights: expected {SAFETENSORS_FILE}, "
            f"{SAFETENSORS_INDEX} or {TORCH_FILE}."
        )
    tensors = {}
    for file in files:
        tensors.update(_read_safetensors(file))
    return config, tensors


def write_folder(path, config: dict, tensors: dict[str, np.ndarray]) -> pathlib.Path:
    """Writes config.json and model.safetensors into a new folder `path`, atomically.

    The files are written into a temporary folder beside `path`, which is renamed only when both
    are complete; an existing `path` is refused, so nothing is ever overwritten.
    """
    from safetensors.numpy import save_file

    folder = pathlib.Path(path)
    if folder.exists():
        raise ValueError(
            f"Export folder {str(folder)!r} already exists; choose a new path (nothing was "
            "written, so the existing folder is untouched)."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file(
            {name: np.ascontiguousarray(value) for name, value in tensors.items()},
            str(staging / SAFETENSORS_FILE),
        )
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


class TensorSource:
    """Hands out a state dict's tensors by name and shape, and reports what was never taken.

    source = TensorSource(state_dict, "BERT")
    kernel = source.take("encoder.layer.0.attention.self.query.weight", (768, 768))
    ...
    source.finish(ignore=("cls.predictions.decoder.weight",))  # raises on leftovers
    """

    def __init__(self, state_dict, model_name: str, *, strip_prefixes: tuple[str, ...] = ()):
        self.model_name = model_name
        self._tensors = {}
        for name, value in state_dict.items():
            for prefix in strip_prefixes:
                name = name.removeprefix(prefix)
            self._tensors[name] = _as_numpy(value)
        self._taken: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def take(self, name: str, shape, dtype=np.float32) -> np.ndarray:
        """The tensor `name`, checked to have `shape`, cast to `dtype`."""
        if name not in self._tensors:
            raise ValueError(
                f"The {self.model_name} checkpoint has no tensor {name!r}; is it a "
                f"{self.model_name} checkpoint of the configured size?"
            )
        value = self._tensors[name]
        if value.shape != tuple(shape):
            raise ValueError(
                f"The {self.model_name} checkpoint's tensor {name!r} has shape {value.shape}, "
                f"the config expects {tuple(shape)}; build the config to match the checkpoint."
            )
        self._taken.add(name)
        return value.astype(dtype)

    def finish(self, ignore: tuple[str, ...] = ()) -> None:
        """ValueError naming the tensors that were neither taken nor ignored (unexpected ones)."""
        left = sorted(set(self._tensors) - self._taken - set(ignore))
        if left:
            shown = ", ".join(repr(n) for n in left[:5]) + (" ..." if len(left) > 5 else "")
            raise ValueError(
                f"The {self.model_name} checkpoint has {len(left)} unexpected tensor(s) the model "
                f"does not use: {shown}; check that the config matches the checkpoint."
            )
