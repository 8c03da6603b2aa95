"""A text task's tokenizer: trained on the first run, saved in the workdir, reloaded on resume.

Config keys read: tokenizer.{kind, vocab_size, num_sentinels}, model.vocab_size (the default
vocabulary size), data.{name, train_split} (recorded with the tokenizer, so a workdir trained on
other data or another tokenizer is refused instead of silently mixed).
"""

import os
import shutil
from pathlib import Path

import jax
from absl import logging

from research.text import tokenizers


def tokenizer_settings(config) -> dict:
    """What identifies the tokenizer a config asks for (compared with a workdir's saved one)."""
    kind = config.tokenizer.kind
    tokenizers.check_kind(kind)
    if kind == "bytes":
        return {"kind": "bytes"}
    return {
        "kind": kind,
        "requested_vocab_size": config.tokenizer.vocab_size or config.model.vocab_size,
        "num_sentinels": config.tokenizer.num_sentinels,
        "data": config.data.name,
        "train_split": config.data.train_split,
    }


def load_or_train_tokenizer(config, workdir, train_texts):
    """The workdir's saved tokenizer if there is one (it must match the config), else a new one
    trained on `train_texts` and saved in <workdir>/tokenizer (atomically; process 0 writes it)."""
    wanted = tokenizer_settings(config)
    directory = Path(workdir) / "tokenizer" if workdir is not None else None
    saved = tokenizers.saved_config(directory) if directory is not None else None
    found = saved
    if saved is None and directory is not None and (Path(workdir) / "checkpoints").exists():
        found = {"kind": "bytes"}  # checkpoints written before tokenizers were saved: bytes
    if found is not None:
        found = {key: found.get(key) for key in wanted}
        if found != wanted:
            raise ValueError(
                f"workdir {workdir} was trained with the tokenizer {found} but the config asks for "
                f"{wanted}; use a new --workdir or set --config.tokenizer to the saved settings."
            )
    if saved is not None:
        logging.info("Reusing the tokenizer saved in %s.", directory)
        return tokenizers.load(directory)
    vocab_size = wanted.get("requested_vocab_size", 0)
    info = {k: v for k, v in wanted.items() if k not in ("kind", "num_sentinels")}
    if wanted["kind"] != "bytes":
        logging.info("Training a %s tokenizer of %d ids on %d documents.", wanted["kind"],
                     vocab_size, len(train_texts))  # fmt: skip
    tokenizer = tokenizers.train(
        wanted["kind"], train_texts, vocab_size, config.tokenizer.num_sentinels, info
    )
    if directory is not None and jax.process_index() == 0:
        partial = directory.with_name(f"tokenizer.tmp-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        tokenizers.save(tokenizer, partial)
        partial.rename(directory)  # a killed run leaves no half-written tokenizer behind
    return tokenizer
