"""Why attention divides its scores by sqrt(d_k): score spread, entropy, saturation, gradients, and
GPT-tiny trained with and without the scale (experiments/attention_scale.py).

Run:
  python -m experiments.attention_scale --config=experiments/configs/attention/scale.py \
      --workdir=runs/attention_scale
Smoke mode: append `:smoke` (two head widths, the smoke-sized GPT for 4 steps per run).

Statistics: standard normal q, k, batch 4 x 4 heads x 128 queries x 128 keys, d_k 16 to 512.
Training: GPT-tiny (4 layers, width 256) with ONE head (d_k = 256), 8 x 128 bytes a step,
the main job's optimizer and data, 200 steps, with attention_scale None (1/16) and 1.0.

Expected result: MEASURED_PLACEHOLDER
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
    # Part 1: random q, k with standard normal entries.
    config.head_dims = (16, 32, 64, 128, 256, 512)
    config.batch_size = 4
    config.num_heads = 4
    config.length = 128  # T queries and T keys per head
    config.saturation = 0.99  # a row is saturated when its largest probability exceeds this
    # Part 2: GPT-tiny with and without the scale (0 steps skips the training runs).
    config.train = ml_collections.ConfigDict()
    config.train.num_heads = 1  # embed_dim 256 / 1 head: d_k = 256
    config.train.seq_len = 128
    config.train.batch_size = 8
    config.train.num_train_steps = 200
    config.train.log_every_steps = 25
    config.train.sample_tokens = 60  # the end-of-training sample, drawn through the cache
    config.num_devices = 0  # devices of each run's mesh; 0 = all
    if config.smoke:
        config.head_dims = (16, 256)
        config.length = 64
        config.batch_size = 2
        config.train.num_heads = 1  # the smoke GPT: width 64, one head of 64
        config.train.seq_len = 64
        config.train.batch_size = 4
        config.train.num_train_steps = 4
        config.train.log_every_steps = 2
        config.train.sample_tokens = 4
        config.num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
    return config
