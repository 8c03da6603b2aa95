"""What a server serves: a decoder, its parameters and the tokenizer it was trained with.

    served = from_workdir("runs/gpt_tiny")             # a GPT trained by experiments/train_lm.py
    served = from_hf_folder("path/to/gpt2")            # a Hugging Face GPT-2 folder

A training workdir describes itself (`research.train.workdir.record_launch`): `config.json` names
the model file and its fields (`model_name`, `model.*`), `tokenizer/` holds the tokenizer saved by
`research.tasks.tokenizer`, and `checkpoints/<step>/state` the Orbax train state, of which only
`params` of the newest step is read (the optimizer's moments, twice the parameters' size, stay on
disk). A Hugging Face folder is read by `research.models.convert.hf_folder` (no download), and its
`tokenizer.json` by the `tokenizers` package.
"""

import dataclasses
import json
import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from tokenizers import Tokenizer

from research import models
from research.models.convert import hf_folder
from research.models.convert.hf_checkpoint import CONFIG_FILE, read_json_object
from research.text import tokenizers

END_OF_TEXT = "<|endoftext|>"  # GPT-2's end-of-text token, spelled as in its tokenizer.json


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """`tokenizer` has encode(text) -> int ids [T], decode(ids) -> text, eos_id, vocab_size."""

    name: str
    model: object
    params: dict
    tokenizer: object


def from_workdir(workdir, name: str | None = None) -> ServedModel:
    """The newest checkpoint's params of a language-model workdir, with its model and tokenizer.
    Raises ValueError naming what is missing."""
    path = pathlib.Path(workdir)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ValueError(
            f"{str(config_file)!r} does not exist; give the --workdir of a trained language model "
            "(e.g. runs/gpt_tiny after `make run`)."
        )
    config = json.loads(config_file.read_text())
    if "model_name" not in config or "model" not in config:
        raise ValueError(f"{str(config_file)!r} names no model_name and model; is it an LM run?")
    model = models.load(config["model_name"]).make(**config["model"])
    tokenizer = tokenizers.load(path / "tokenizer")
    params = _latest_params(path / "checkpoints")
    return ServedModel(name or path.name, model, params, tokenizer)


def _latest_params(directory: pathlib.Path) -> dict:
    """`params` of checkpoints/<newest step>/state (finished saves only), on this process's first
    device, whatever mesh saved them: a run trained on 8 devices (or a pod) serves from one.

    The train state was written by `research.train.checkpoint` (Orbax `StandardSave` inside a
    composite); its item is read with Orbax's PyTree handler directly, `params` alone
    (`partial_restore`), each array given an explicit single-device sharding (without one, Orbax
    reuses the saved sharding, which names devices this process may not have)."""
    steps = sorted(
        int(p.name) for p in directory.glob("*") if p.name.isdigit() and (p / "state").is_dir()
    )
    if not steps:
        raise ValueError(
            f"{str(directory)!r} holds no finished checkpoint; train first (the run saves one "
            "every checkpoint_every_steps and at the end)."
        )
    state = epath.Path(directory.resolve() / str(steps[-1]) / "state")  # Orbax wants absolute
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    handler = ocp.PyTreeCheckpointHandler()
    try:
        saved = handler.metadata(state).tree["params"]
        abstract = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), saved
        )
        restored = handler.restore(
            state,
            args=ocp.args.PyTreeRestore(
                item={"params": abstract},
                restore_args={
                    "params": jax.tree.map(
                        lambda a: ocp.ArrayRestoreArgs(sharding=a.sharding, dtype=a.dtype),
                        abstract,
                    )
                },
                partial_restore=True,
            ),
        )
    finally:
        handler.close()
    return restored["params"]


class FolderTokenizer:
    """A Hugging Face folder's `tokenizer.json` (GPT-2's byte-level BPE) with the interface the
    server uses. Text that spells a special token ('<|endoftext|>') stays text."""

    def __init__(self, tokenizer: Tokenizer, eos_id: int | None):
        self.tokenizer, self.eos_id = tokenizer, eos_id
        tokenizer.encode_special_tokens = True

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, np.int32)

    def decode(self, ids) -> str:
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def from_hf_folder(folder, name: str | None = None) -> ServedModel:
    """A Hugging Face decoder folder (config.json, weights, tokenizer.json).

    End of text: config.json's `eos_token_id` (what the model was trained to stop with; a
    fine-tune may have set its own), else the tokenizer's `<|endoftext|>` (GPT-2's, 50256), else
    none (answers end at max_tokens). Raises ValueError when the tokenizer makes ids the model has
    no embedding for."""
    path = pathlib.Path(folder)
    model, params = hf_folder.load(path)
    if not hasattr(model, "init_cache"):
        raise ValueError(f"{str(path)!r} holds a {type(model).__module__} model; serve a decoder.")
    tokenizer_file = path / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ValueError(
            f"{str(tokenizer_file)!r} does not exist; copy the model's tokenizer.json beside its "
            "weights (the server never downloads)."
        )
    hf_tokenizer = Tokenizer.from_file(str(tokenizer_file))
    eos_id = read_json_object(path / CONFIG_FILE).get("eos_token_id")
    if not isinstance(eos_id, int):  # absent, null, or a list (several stop ids)
        eos_id = hf_tokenizer.token_to_id(END_OF_TEXT)
    tokenizer = FolderTokenizer(hf_tokenizer, eos_id)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(
            f"{str(tokenizer_file)!r} has {tokenizer.vocab_size} tokens but the model's "
            f"vocab_size is {model.config.vocab_size}; the tokenizer is not the model's."
        )
    return ServedModel(name or path.resolve().name, model, params, tokenizer)
