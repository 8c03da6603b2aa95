"""Time-series anomaly detection with the LSTM encoder-decoder (research/rnn cells).

Run:
  python -m experiments.anomaly_detection --config=experiments/configs/anomaly/lstm.py \
      --workdir=runs/anomaly_lstm
Same data, baselines and outputs as conv.py (see its runbook); smoke mode: append `:smoke`.

Expected result (measured on the shared 2-core CPU, seed 0, 1500 steps per series): mean point F1 /
UCR-rule accuracy over the 9 series 0.43 / 0.89 (the conv autoencoder 0.40 / 1.00, PCA 0.33 / 0.78,
matrix profile 0.23 / 0.89, z-score 0.05 / 0.56), in 8 min 44 s wall (2 min 45 s of CPU: the machine
was shared). With --config.seed=1: 0.43 / 1.00 (7 min 50 s). Seed 0's LSTM misses eeg_pattern
(F1 0.09, top score outside the range) where the conv model finds it (0.65), and wins on
sine_flatline (0.87 against 0.25).
"""

from experiments.configs.anomaly import conv


def get_config(arg: str | None = None):
    return conv.get_config(arg, variant="lstm")
