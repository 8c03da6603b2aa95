"""Why attention divides its scores by sqrt(d_k): score spread, entropy, saturation, gradients, and
GPT-tiny trained with and without the scale (experiments/attention_scale.py).

Run:
  python -m experiments.attention_scale --config=experiments/configs/attention/scale.py \
      --workdir=runs/attention_scale
Smoke mode: append `:smoke` (two head widths, the smoke-sized GPT for 4 steps per run).

Statistics: standard normal q, k, batch 4 x 4 heads x 128 queries x 128 keys, d_k 16 to 512.
Training: the `lm` section is GPT-tiny's config (experiments/configs/lm/gpt_tiny.py, every key a
flag: `--config.lm.optimizer.learning_rate=1e-3`, `--config.lm.num_train_steps=0` skips the runs)
with ONE head (d_k = 256), 8 x 128 bytes a step, the main job's optimizer and data, 200 steps;
the runs set lm.model.attention_scale to None (1/16) and 1.0, in <workdir>/scaled and /unscaled.

Expected result (measured on the 2-core AMD EPYC CPU shared with other jobs at load ~17: 30 min
wall, about 3.5 min of CPU time; jax 0.10.2; results.md and attention_scale.png in the workdir).
T = 128 keys, log T = 4.852 nats:

  d_k   score std          entropy (nats)    saturated rows   grad norm w.r.t. scores
        scaled  unscaled   scaled unscaled   scaled unscaled  scaled  unscaled
  16    1.008   4.031      4.359  1.604      0      0.010     0.134   0.256
  64    1.001   8.006      4.367  0.690      0      0.141     0.133   0.189
  256   1.002   16.039     4.363  0.284      0      0.451     0.133   0.103
  512   1.003   22.691     4.367  0.198      0      0.582     0.133   0.082

Scaled: unit spread and entropy log T - 1/2 = 4.352 (the lognormal closed form) at every width.
Unscaled: spread sqrt(d_k), entropy towards 0, rows saturating and the gradient through the
softmax shrinking with the width. The gradient w.r.t. q grows instead (0.99 at 16 to 1.86 at 512,
against 0.13 scaled): it carries the unscaled factor k, sqrt(d_k) larger, which outweighs the
saturation at these widths.
GPT-tiny, one head of 256, 200 steps: with the scale final train loss 2.478, validation 2.291
nats/byte; without it 2.581 and 2.409 (the unscaled curve stays above from step 50 on).
"""

import ml_collections

from experiments.configs.common import parse_arg, schedule
from experiments.configs.lm import gpt_tiny


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = ml_collections.ConfigDict()
    config.seed = 0  # of the random q, k (the runs' seed is lm.seed)
    # Part 1: random q, k with standard normal entries.
    config.head_dims = (16, 32, 64, 128, 256, 512)
    config.batch_size = 4
    config.num_heads = 4
    config.length = 128  # T queries and T keys per head
    config.saturation = 0.99  # a row is saturated when its largest probability exceeds this
    config.num_devices = 0  # devices of each run's mesh; 0 = all
    # Part 2: GPT-tiny (its smoke size in smoke mode) with one wide head, trained with and without
    # the scale (lm.model.attention_scale None and 1.0); lm.num_train_steps=0 skips the runs.
    config.lm = lm = gpt_tiny.get_config(arg)
    lm.model.num_heads = 1  # embed_dim 256 / 1 head: d_k = 256 (smoke: one head of 64)
    lm.data.batch_size = 8
    schedule(lm, steps=200, log_every=25, eval_every=200, checkpoint_every=200)
    lm.sample.num_tokens = 60  # the end-of-training sample, drawn through the cache
    if smoke:
        config.head_dims = (16, 256)
        config.length = 64
        config.batch_size = 2
        config.num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
        lm.data.batch_size = 4
        schedule(lm, steps=4, log_every=2, eval_every=4, checkpoint_every=4)
        lm.sample.num_tokens = 4
    lm.optimizer.warmup_steps = min(lm.optimizer.warmup_steps, lm.num_train_steps // 2)
    return config
