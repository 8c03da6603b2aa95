"""Long context: GPT-tiny at 4x the main job's context with each attention implementation.

Run:
  python -m experiments.long_context --config=experiments/configs/attention/long_context.py \
      --workdir=runs/long_context
Smoke mode: append `:smoke` (the smoke-sized GPT, context 64, 4 steps per run).

Every run: GPT-tiny (4 layers, width 256, 4 heads of 64), context 512 (the main job's is 128),
8 sequences a step (4,096 tokens, as the main job's 32 x 128), the main job's optimizer, data and
seed; only the attention differs (`runs`: name -> model overrides):
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
    config.num_train_steps = 100
    config.log_every_steps = 25
    config.eval_every_steps = 50
    config.sample_tokens = 16  # the end-of-training sample, drawn through the cache
    config.num_devices = 0  # devices of each run's mesh; 0 = all
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
    if config.smoke:
        config.context = 64
        config.tokens_per_step = 256
        config.num_train_steps = 4
        config.log_every_steps = 2
        config.eval_every_steps = 4
        config.sample_tokens = 4
        config.num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
        # The smoke model (head dim 32) at context 64: a window of 16 that cuts keys (the layer
        # tests show the window is exact on its pattern), 32 features redrawn every 2 of 4 steps.
        del config.runs["local_128"], config.runs["performer_64"]
        config.runs["local_16"] = {"attention_impl": "local", "attention_window": 16}
        config.runs["performer_32"] = {
            "attention_impl": "performer",
            "performer_features": 32,
            "performer_redraw_every": 2,
        }
    return config
