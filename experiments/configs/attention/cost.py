"""Attention cost: compiled forward + backward time and peak memory against sequence length.

Run:
  python -m experiments.attention_cost --config=experiments/configs/attention/cost.py \
      --workdir=runs/attention_cost
Smoke mode: append `:smoke` (lengths 32 and 64, one repeat).

Standalone (its own jitted programs, not the training loop). Every implementation at T = 256 ...
4096, batch 1, 4 heads of 32, float32, bidirectional; local window 128, Linformer k = 128,
Performer m = 128; slopes fitted over the last 3 lengths. See experiments/attention_cost.py.

Measured (2-core CPU shared with other jobs, load 15-20; jax 0.10; 5.6 min wall, 73 s CPU; clock
'cpu', as elapsed times on that machine swung 2-5x between runs; a second run agreed within 10%).
Slopes of time / temp memory: einsum 2.41 / 1.99, xla 2.41 / 1.99, blockwise 2.00 / 1.00, local
1.44 / 1.00, Linformer 1.26 / 1.00, Performer 1.44 / 1.00. At T = 4096 (fwd + bwd CPU seconds;
compiled temp memory): einsum 3.32 s, 1.03 GiB; xla 2.80 s, 1.03 GiB; blockwise 0.91 s, 16 MiB;
local 0.16 s, 132 MiB; Linformer 0.06 s, 36 MiB; Performer 0.11 s, 50 MiB.
"""

import ml_collections

from experiments.configs.common import parse_arg


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = ml_collections.ConfigDict()
    config.implementations = "einsum,xla,blockwise,local,linformer,performer"
    config.lengths = [2**p for p in range(8, 13)]
    config.batch_size = 1
    config.num_heads = 4
    config.head_dim = 32
    config.window = 128
    config.linformer_k = 128
    config.performer_features = 128
    config.repeats = 5
    config.clock = "cpu"  # 'wall' on an accelerator or a quiet machine
    config.fit_points = 3
    if smoke:
        config.lengths = [32, 64]
        config.window = 8
        config.linformer_k = 8
        config.performer_features = 8
        config.repeats = 1
        config.fit_points = 2
    return config
