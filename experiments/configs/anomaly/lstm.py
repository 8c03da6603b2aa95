"""Time-series anomaly detection with the LSTM encoder-decoder (research/rnn cells).

Run:
  python -m experiments.anomaly_detection --config=experiments/configs/anomaly/lstm.py \
      --workdir=runs/anomaly_lstm
Same data, baselines and outputs as conv.py (see its runbook); smoke mode: append `:smoke`.

Expected result: MEASURED_PLACEHOLDER
"""

from experiments.configs.anomaly import conv


def get_config(arg: str | None = None):
    if arg not in (None, "", "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    return conv.get_config(arg or None, variant="lstm")
