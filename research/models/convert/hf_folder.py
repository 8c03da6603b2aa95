"""One entry for every Hugging Face converter: a local folder in, (our Model, params) out.

Every converter here has the same two functions, with the same argument order:

    model, params = hf_gpt2.load(path, **overrides)   # overrides: Config fields, e.g. dtype
    hf_gpt2.save(path, model.config, params)           # a new folder from_pretrained() loads

and this module picks the converter for you: `load` reads `config.json`'s `model_type`, `save`
looks at the Config's model file.

    from research.models.convert import hf_folder
    model, params = hf_folder.load("path/to/checkpoint")  # gpt2, bert or t5
    hf_folder.save("runs/export", model.config, params)

Nothing downloads: a folder is a path you give (`hf_checkpoint.read_folder`).
"""

import importlib
import pathlib

from research.models.convert.hf_checkpoint import CONFIG_FILE, read_json_object

# Hugging Face model_type -> (converter module, our model file).
CONVERTERS = {
    "gpt2": ("hf_gpt2", "transformer_lm"),
    "bert": ("hf_bert", "bert"),
    "t5": ("hf_t5", "t5"),
}


def _converter(name: str):
    return importlib.import_module(f"{__package__}.{name}")


def model_type(path) -> str:
    """`model_type` of the folder's config.json; a one-sentence ValueError naming the file when it
    is missing, not a JSON object (`hf_checkpoint.read_json_object`), or names a model_type no
    converter reads."""
    file = pathlib.Path(path) / CONFIG_FILE
    if not file.is_file():
        raise ValueError(f"{str(file)!r} does not exist; give a Hugging Face model folder.")
    kind = read_json_object(file).get("model_type")
    if kind not in CONVERTERS:
        raise ValueError(
            f"{str(file)!r} has model_type={kind!r}; the converters read "
            f"{', '.join(sorted(CONVERTERS))}."
        )
    return kind


def load(path, **overrides):
    """(our Model, its params) from a local Hugging Face folder, by its config.json's model_type;
    `overrides` are the model's `Config` fields (e.g. dtype='bfloat16')."""
    return _converter(CONVERTERS[model_type(path)][0]).load(path, **overrides)


def save(path, config, params):
    """Writes a new Hugging Face folder `path` for a transformer_lm, bert or t5 `config` and its
    params (the converter's `save`). Returns the folder's path."""
    model_file = type(config).__module__.rsplit(".", 1)[-1]
    for converter, ours in CONVERTERS.values():
        if ours == model_file:
            return _converter(converter).save(path, config, params)
    known = sorted(ours for _, ours in CONVERTERS.values())
    raise ValueError(
        f"No Hugging Face converter for a {type(config).__module__}.Config; the converters write "
        f"{', '.join(known)}."
    )
