"""What attention's masks prevent: GPT-tiny trained with and without the causal mask, and outputs
changing with the pad content without the padding mask (experiments/attention_masks.py).

Run:
  python -m experiments.attention_masks --config=experiments/configs/attention/masks.py \
      --workdir=runs/attention_masks
Smoke mode: append `:smoke` (the smoke-sized GPT on 16-byte windows, 300 steps per run).

Causal: GPT-tiny (4 layers, width 256, 4 heads; the main job's optimizer and data), 8 x 128 bytes
a step, 200 steps from one initialization, with and without the causal mask; validation on the
first 16K bytes of the validation split, the prefix-only loss on its first batch (8 windows, one
forward pass per position); greedy continuation of "The " by 80 bytes. Padding: 8 rows of 128,
0 / 16 / 48 / 96 of them padding (cycled).

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
    config.seq_len = 128
    config.batch_size = 8
    config.num_train_steps = 200
    config.learning_rate = 2e-3  # AdamW peak, as the main job
    config.average_last = 20  # the final train loss is the mean of the last steps' losses
    config.eval_tokens = 16384  # validation bytes for the as-trained and causal-mask losses
    config.prompt = "The "
    config.generate_tokens = 80
    config.padding = ml_collections.ConfigDict()
    # Pads of each row (cycled over the batch_size rows of seq_len): left for the GPT, right for
    # the encoder block.
    config.padding.pad_lengths = (0, 16, 48, 96)
    if config.smoke:
        # Short windows and a larger step, so that the small model learns to read the next token
        # within the smoke run (at 32 bytes and 2e-3 it has not by step 300).
        config.seq_len = 16
        config.batch_size = 16
        config.num_train_steps = 300
        config.learning_rate = 1e-2
        config.average_last = 10
        config.eval_tokens = 1024
        config.generate_tokens = 8
        config.padding.pad_lengths = (0, 3, 7, 12)
    return config
