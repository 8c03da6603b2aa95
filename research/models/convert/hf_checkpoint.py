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


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().float().numpy()
    return np.asarray(value)


def read_folder(path) -> tuple[dict, dict[str, np.ndarray]]:
    """(config.json as a dict, name -> numpy array) from a local Hugging Face model folder."""
    folder = pathlib.Path(path)
    if not folder.is_dir():
        raise ValueError(f"Checkpoint folder {str(folder)!r} does not exist; give a local folder.")
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(f"Checkpoint folder {str(folder)!r} has no {CONFIG_FILE}.")
    config = json.loads((folder / CONFIG_FILE).read_text())
    if (folder / SAFETENSORS_FILE).is_file():
        files = [folder / SAFETENSORS_FILE]
    elif (folder / SAFETENSORS_INDEX).is_file():
        index = json.loads((folder / SAFETENSORS_INDEX).read_text())
        files = [folder / name for name in sorted(set(index["weight_map"].values()))]
    elif (folder / TORCH_FILE).is_file():
        import torch  # only for .bin checkpoints: PyTorch's pickle format

        state = torch.load(folder / TORCH_FILE, map_location="cpu", weights_only=True)
        return config, {name: _as_numpy(value) for name, value in state.items()}
    else:
        raise ValueError(
            f"Checkpoint folder {str(folder)!r} has no weights: expected {SAFETENSORS_FILE}, "
            f"{SAFETENSORS_INDEX} or {TORCH_FILE}."
        )
    from safetensors.numpy import load_file

    tensors = {}
    for file in files:
        tensors.update(load_file(file))
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
