"""Long-range memory: Elman, LSTM and GRU on the adding problem at growing lengths.

Run:
  python -m experiments.rnn_memory --config=experiments/configs/rnn/memory.py \
      --workdir=runs/rnn_memory
Smoke mode: append `:smoke`.

Expected result: TBD (measured).
"""

import ml_collections

from experiments.configs.common import base_config


def get_config(arg: str | None = None):
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.cells = "elman_tanh,lstm,gru"  # comma-separated research.rnn.cells kinds
    config.lengths = (50, 100, 200)  # T: the second marker sits in the last T // 2 steps
    config.hidden_size = 64
    config.forget_bias = 1.0  # added to the LSTM's forget-gate bias at init (0.0 = PyTorch's)
    config.unroll = 1  # lax.scan unroll: 8 measured 1.4-3.6x slower here (compile time)
    config.batch_size = 64
    config.num_train_steps = 2000
    config.eval_every_steps = 200  # also the length of one jitted lax.scan of training steps
    config.test_size = 1000
    config.tolerance = 0.04  # Hochreiter & Schmidhuber's criterion: |prediction - target| < 0.04
    config.solved_accuracy = 0.9
    config.optimizer = base_config().optimizer
    config.optimizer.learning_rate = 3e-3
    config.optimizer.weight_decay = 0.0  # no pull of the recurrent weights (or biases) toward 0

    if arg == "smoke":
        config.cells = "elman_tanh,lstm"
        config.lengths = (8,)
        config.hidden_size = 16
        config.num_train_steps = 40
        config.eval_every_steps = 20
        config.test_size = 256
        config.optimizer.warmup_steps = 5
        config.optimizer.learning_rate = 1e-2  # 400 steps then beat the mean 20x (the test does)
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    return config
