"""Long context: GPT-tiny at 4x the main job's context with each attention implementation.

Run:
  python -m experiments.long_context --config=experiments/configs/attention/long_context.py \
      --workdir=runs/long_context
Smoke mode: append `:smoke` (the smoke-sized GPT with one block, context 64, 4 steps per run;
einsum, blockwise, a 16-key window and Performer with 32 features).

Every run: the `lm` section, GPT-tiny's config (experiments/configs/lm/gpt_tiny.py, every key a
flag, e.g. `--config.lm.num_train_steps=200`): 4 layers, width 256, 4 heads of 64, context 512
(lm.data.seq_len = lm.model.max_len; the main job's is 128), 8 sequences a step (4,096 tokens, as
the main job's 32 x 128), the main job's optimizer, data and seed; only the attention differs
(`runs`: name -> lm.model overrides):
  einsum, xla, blockwise: exact softmax attention (the same loss up to float rounding);
  local_128: a causal sliding window of 128 keys (each token reads itself and the 127 before it);
  performer_64: FAVOR+ with m = 64 positive orthogonal random features per head (one orthogonal
    block at head dim 64; the paper's m = d log d would be ~266), redrawn every 100 steps (a counter
    in the model state, checkpointed). Sampling decodes with the first draw.
Linformer is absent: its learned length projections mix every position into each projected key,
so it has no causal form and cannot train a language model (research/nn/linformer.py refuses
causal=True).

Expected result (measured 2026-11-27 on the 2-core AMD EPYC CPU at load ~2, jax 0.10.2; 100 steps,
13 min in all; rows in ConfigDict's alphabetical order):

  attention     val nats/byte  ms / step  tokens/s
  blockwise        2.3247        1201      3,410
  einsum           2.3247        1318      3,108
  local_128        2.3080        1045      3,919
  performer_64     2.3520        1002      4,090
  xla              2.3247        1343      3,050

The three exact implementations agree to the 4th decimal. At 100 steps the 128-key window is ahead
(the model has not yet learned to use distant context, and the window's locality helps early);
Performer's random-feature estimate costs 0.027 nats/byte. At context 512 the attention is a small
share of the tiny GPT's step, so the implementations differ by at most 25% in time here; the cost
experiment (experiments/attention_cost.py) isolates attention itself.
"""

import ml_collections

from experiments.configs.common import parse_arg, schedule
from experiments.configs.lm import gpt_tiny


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = ml_collections.ConfigDict()
    config.num_devices = 0  # devices of each run's mesh; 0 = all
    # GPT-tiny (its smoke size in smoke mode) at 4x the main job's context, 8 x 512 tokens a step.
    config.lm = lm = gpt_tiny.get_config(arg)
    lm.data.seq_len = lm.model.max_len = 512
    lm.data.batch_size = 8
    schedule(lm, steps=100, log_every=25, eval_every=50, checkpoint_every=100)
    lm.sample.num_tokens = 16  # the end-of-training sample, drawn through the cache
    # name -> lm.model overrides, the only keys the runs differ in.
    config.runs = {
        "einsum": {"attention_impl": None},
        "xla": {"attention_impl": "xla"},
        "blockwise": {"attention_impl": "blockwise"},
        "local_128": {"attention_impl": "local", "attention_window": 128},
        "performer_64": {
            "attention_impl": "performer",
            "performer_features": 64,
            "performer_redraw_every": 100,
        },
    }
    if smoke:
        config.num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
        # One block and four runs: compiling each run's init, train, eval and decoding steps is
        # most of the smoke time. One attention layer shows every implementation's difference;
        # 'xla' is left out (tests/research/models/transformer_lm_test.py checks that it gives
        # the einsum model's loss and gradients), 'blockwise' stays as the exact one that only
        # this run trains inside the model.
        lm.model.num_layers = 1
        lm.data.seq_len = lm.model.max_len = 64
        lm.data.batch_size = 4
        schedule(lm, steps=4, log_every=2, eval_every=4, checkpoint_every=4)
        lm.sample.num_tokens = 4
        # The smoke model (head dim 32) at context 64: a window of 16 that cuts keys (the layer
        # tests show the window is exact on its pattern), 32 features redrawn every 2 of 4 steps.
        del config.runs["xla"], config.runs["local_128"], config.runs["performer_64"]
        config.runs["local_16"] = {"attention_impl": "local", "attention_window": 16}
        config.runs["performer_32"] = {
            "attention_impl": "performer",
            "performer_features": 32,
            "performer_redraw_every": 2,
        }
    lm.optimizer.warmup_steps = min(lm.optimizer.warmup_steps, lm.num_train_steps // 2)
    return config
