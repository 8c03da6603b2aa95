"""Depth: post-LN against pre-LN from 4 to 24 layers, with and without warmup and clipping.

Run:
  python -m experiments.attention_depth --config=experiments/configs/attention/depth.py \
      --workdir=runs/attention_depth
Smoke mode: append `:smoke` (depths 2 and 4, width 32, 8 steps).

Every run: the project's GPT (`research/models/transformer_lm.py`, GPT-2 initialization) at
width 64 (4 heads of 16, MLP 256), context 64, batch 8, on the embedded corpus (pydoc_topics
bytes), AdamW at a constant 3e-3 (b2 0.95, weight decay 0.1) for 150 steps; 'warmup+clip' adds
30 steps of linear warmup and a global-norm clip at 1.0, 'neither' has none of them.

Expected result: MEASURED numbers are in the README section on depth (filled in from a run).
"""

import ml_collections
from ml_collections.config_dict import placeholder


def get_config(arg: str | None = None):
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.data_dir = placeholder(str)  # TFDS data directory of pydoc_topics; None = default
    config.depths = "4,8,16,24"  # comma-separated num_layers values
    config.embed_dim = 64
    config.num_heads = 4
    config.mlp_dim = 256
    config.seq_len = 64
    config.batch_size = 8
    config.num_train_steps = 150
    # The project's AdamW (research/train/optimizer.py) at a constant rate after the warmup; the
    # 'neither' runs set warmup_steps and grad_clip_norm to 0, every other key is shared.
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 3e-3
    config.optimizer.warmup_steps = 30
    config.optimizer.b1 = 0.9
    config.optimizer.b2 = 0.95
    config.optimizer.eps = 1e-8
    config.optimizer.weight_decay = 0.1
    config.optimizer.grad_clip_norm = 1.0

    if arg == "smoke":
        config.depths = "2,4"
        config.embed_dim = 32
        config.num_heads = 2
        config.mlp_dim = 64
        config.seq_len = 32
        config.batch_size = 4
        config.num_train_steps = 8
        config.optimizer.warmup_steps = 4
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    return config
