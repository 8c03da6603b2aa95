"""Long context: GPT-tiny at 4x the main job's context with each attention implementation.

Run:
  python -m experiments.long_context --config=experiments/configs/attention/long_context.py \
      --workdir=runs/long_context
Smoke mode: append `:smoke` (the smoke-sized GPT, context 64, 4 steps per run).

Every run: GPT-tiny (4 layers, width 256, 4 heads of 64), context 512 (the main job's is 128),
8 sequences a step (4,096 tokens, as the main job's 32 x 128), the main job's optimizer, data and
seed; only the attention differs (`runs`: name -> model overrides).
"""

import ml_collections
from ml_collections.config_dict import placeholder


def get_config(arg: str | None = None):
    if arg not in (None, "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    config = ml_collections.ConfigDict()
    config.smoke = arg == "smoke"
    config.seed = 0
    config.data_dir = placeholder(str)  # TFDS data directory of pydoc_topics; None = default
    config.context = 512
    config.tokens_per_step = 4096
    config.num_train_steps = 200
    config.log_every_steps = 25
    config.eval_every_steps = 50
    config.sample_tokens = 16  # the end-of-training sample, drawn through the cache
    config.num_devices = 0  # devices of each run's mesh; 0 = all
    config.runs = {
        "einsum": {"attention_impl": None},
        "xla": {"attention_impl": "xla"},
        "blockwise": {"attention_impl": "blockwise"},
    }
    if config.smoke:
        config.context = 64
        config.tokens_per_step = 256
        config.num_train_steps = 4
        config.log_every_steps = 2
        config.eval_every_steps = 4
        config.sample_tokens = 4
        config.num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
    return config
