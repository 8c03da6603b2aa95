"""Complete models, one family per file, loaded by name.

Every model file exports the same four names, so trainers, tests and forks need no registry:

  Config      a frozen dataclass of the model's hyperparameters (nothing about data or training),
              which refuses bad values itself in `__post_init__`, one sentence per refusal
  VARIANTS    presets as data: {name: {field: value}}
  Model       the Linen module, built from a Config
  make        make(variant=None, **overrides) -> Model, refusing unknown variants and fields;
              written once, `make = contract.maker("<family>", Config, VARIANTS, Model)`
              (research/models/contract.py)

Shared concepts have one field name in every Config: `embed_dim`, `hidden_dim` (the width of
hidden or recurrent layers), `num_layers` / `num_encoder_layers` / `num_decoder_layers`,
`architecture` (the layout: 'dense' / 'conv', 'conv' / 'lstm', 'skipgram' / 'cbow'), `cell` (the
recurrent cell), `norm_epsilon`, `tie_embeddings`, `vocab_pad_multiple`, `dropout_rate`, and
`dtype` (compute) / `param_dtype` (storage), both 'float32' by default, on every model with
parameters worth casting (all but the word-vector tables word2vec, fasttext, glove).
tests/research/models/contract_test.py checks all of it once, for every file `available()` lists,
with each model's golden parameter-path -> logical-axes file.

A model file may add more (`num_params`, `flops_per_token`, `init_cache` on its Model for the
decoding protocol of `research.generate`); converters to and from other frameworks live in
`research/models/convert/` (one interface: `load(path) -> (Model, params)`, `save(path, config,
params)`), not in the model file.

`load(name)` finds a model file by its module path under `research/models/`: 'transformer_lm',
or a fork copied to `research/models/proj/<you>/<model>.py` as 'proj.<you>.<model>'. A new model
needs no edit anywhere else to be trained by name (`--config.model_name=<name>`).
"""

import importlib
import pkgutil
import re
import types

CONTRACT = ("Config", "VARIANTS", "Model", "make")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NOT_MODELS = ("convert", "contract")  # modules and packages here that are not model files


def available() -> list[str]:
    """Names `load` accepts: the model files here and the forks under proj/, sorted."""
    names = [
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.ispkg and not info.name.startswith("_") and info.name not in _NOT_MODELS
    ]
    proj = importlib.import_module(f"{__name__}.proj")
    # walk_packages imports each subpackage to look inside it, so it needs full module names.
    for info in pkgutil.walk_packages(proj.__path__, prefix=f"{proj.__name__}."):
        if not info.ispkg and not info.name.rsplit(".", 1)[-1].startswith("_"):
            names.append(info.name.removeprefix(f"{__name__}."))
    return sorted(names)


def load(name: str) -> types.ModuleType:
    """The model file `research/models/<name with dots as slashes>.py`, checked for the contract.

    Raises a one-sentence ValueError listing the available models when there is no such file,
    and naming the missing exports when the file does not follow the contract.
    """
    if not isinstance(name, str) or not _NAME.match(name) or name.split(".")[0] in _NOT_MODELS:
        raise ValueError(
            f"Model name {name!r} is not a model file's module path; choose one of "
            f"{', '.join(available())}."
        )
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        # Only a missing model file is the user's typo; a missing dependency inside one is not.
        if e.name is None or not module_name.startswith(e.name):
            raise
        raise ValueError(
            f"No model named {name!r} (no file research/models/{name.replace('.', '/')}.py); "
            f"choose one of {', '.join(available())}."
        ) from None
    missing = [export for export in CONTRACT if not hasattr(module, export)]
    if missing:
        raise ValueError(
            f"research/models/{name.replace('.', '/')}.py does not export {', '.join(missing)}; "
            f"a model file exports {', '.join(CONTRACT)} (see research/models/__init__.py)."
        )
    return module
