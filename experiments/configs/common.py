"""Config sections shared by every experiment: the loop's standard keys, optimizer and mesh."""

import dataclasses
import typing

import ml_collections
from ml_collections.config_dict import placeholder

from research import models


def parse_arg(arg: str | None) -> bool:
    """Whether a config file's argument (`--config=<file>:<arg>`) asks for smoke mode.

    None or '' (no argument) -> False, 'smoke' -> True; anything else is refused with one sentence.
    Every config's `get_config(arg)` starts with `smoke = parse_arg(arg)`.
    """
    if arg in (None, ""):
        return False
    if arg == "smoke":
        return True
    raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")


def base_config() -> ml_collections.ConfigDict:
    """The training loop's standard keys with neutral defaults; experiments override them."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    schedule(config, steps=1000, log_every=50, eval_every=500, checkpoint_every=500)
    config.keep_checkpoints = 3
    config.skip_nonfinite_updates = False
    # Optimizer steps per jitted call (a lax.scan over stacked batches): > 1 for models whose step
    # is as short as the loop's per-call work (word2vec, GloVe); step counts must be multiples.
    config.steps_per_call = 1

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "adamw"  # 'adamw' | 'sgd' | 'adagrad' (research/train/optimizer.py)
    config.optimizer.learning_rate = 1e-3
    config.optimizer.warmup_steps = 100
    config.optimizer.decay = "cosine"
    config.optimizer.end_learning_rate_ratio = 0.1
    config.optimizer.b1 = 0.9
    config.optimizer.b2 = 0.95
    config.optimizer.eps = 1e-8
    config.optimizer.weight_decay = 0.1
    config.optimizer.grad_clip_norm = 1.0

    # -1 = the remaining devices. data x fsdp x tensor must equal the device count.
    config.mesh = ml_collections.ConfigDict()
    config.mesh.data = -1
    config.mesh.fsdp = 1
    config.mesh.tensor = 1
    # Extra logical-axis rules, tried before the defaults in research/sharding/axes.py (so they win):
    # comma-separated logical=mesh_axis[+mesh_axis], 'none' = replicated, e.g.
    # --config.sharding_rules=length=tensor,embed=fsdp+data,kv=none. '' = the defaults only.
    config.sharding_rules = ""
    return config


def schedule(
    section: ml_collections.ConfigDict,
    *,
    steps: int,
    log_every: int,
    eval_every: int,
    checkpoint_every: int,
) -> None:
    """Sets a loop section's schedule keys (num_train_steps, log_every_steps, eval_every_steps,
    checkpoint_every_steps): the keys the loop reads and `--config.<key>` flags override."""
    section.num_train_steps = steps
    section.log_every_steps = log_every
    section.eval_every_steps = eval_every
    section.checkpoint_every_steps = checkpoint_every


def model_section(model_name: str, variant: str, **overrides) -> ml_collections.ConfigDict:
    """A model preset expanded into explicit keys, so every field can be set with --config.model.*.

    A field whose value is None (`attention_impl: str | None = None`) becomes a typed placeholder,
    so `--config.model.attention_impl=blockwise` can set it (ml_collections cannot override a plain
    None); `to_dict()` still gives None.
    """
    config = models.load(model_name).make(variant, **overrides).config
    hints = typing.get_type_hints(type(config))
    section = dataclasses.asdict(config)
    for name, value in section.items():
        kinds = [t for t in typing.get_args(hints[name]) if t is not type(None)]
        if value is None and len(kinds) == 1:
            section[name] = placeholder(kinds[0])
    return ml_collections.ConfigDict(section)
