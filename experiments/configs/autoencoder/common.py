"""What every autoencoder config shares: the data section, the schedule, the objective section and
the sizes of `:smoke` mode. Each config file picks its model preset and objective settings (and
stays the runbook, with its measured numbers)."""

import inspect

import ml_collections
from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, schedule
from research.train.autoencoder_objectives import OBJECTIVES


def objective_section(name: str, **settings) -> ml_collections.ConfigDict:
    """`research.train.autoencoder_objectives.OBJECTIVES[name]`'s settings as explicit keys (its
    keyword defaults updated by `settings`), so each is a --config.objective.<key> flag."""
    params = inspect.signature(OBJECTIVES[name]).parameters.values()
    defaults = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise ValueError(
            f"Unknown {name} objective setting(s) {unknown}; valid: {sorted(defaults)}."
        )
    return ml_collections.ConfigDict({"name": name, **defaults, **settings})


def autoencoder_config(
    model_name: str, variant: str, *, smoke: bool, objective: str = "reconstruction", **settings
):
    """3000 steps of 64 digits (8x8) with AdamW at 2e-3; `smoke`: 20 steps, a narrow model."""
    config = base_config()
    config.model_name = model_name
    config.model = model_section(model_name, variant)
    config.objective = objective_section(objective, **settings)
    config.data = dict(
        name="digits",  # the embedded default; 'mnist' reads a prepared copy in data_dir
        data_dir=placeholder(str),  # TFDS data directory; None = TFDS default
        batch_size=64,
        eval_split="test",
        binarize=False,  # pixels >= 0.5 -> 1, else 0 (a Bernoulli likelihood becomes exact)
    )
    schedule(config, steps=3000, log_every=100, eval_every=1000, checkpoint_every=1000)
    config.optimizer.learning_rate = 2e-3
    config.optimizer.warmup_steps = 100
    config.optimizer.weight_decay = 1e-4

    if smoke:
        if "hidden_dim" in config.model:
            config.model.hidden_dim = 32
        if "conv_features" in config.model:
            config.model.conv_features = 8
        schedule(config, steps=20, log_every=5, eval_every=10, checkpoint_every=10)
        config.optimizer.warmup_steps = 5
    return config
