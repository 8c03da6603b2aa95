"""Autoencoder (classic) on scikit-learn's 8x8 digits (embedded), against PCA at the same latent size.

Run:
  python -m experiments.train_autoencoder --config=experiments/configs/autoencoder/classic.py \
      --workdir=runs/ae_classic
Smoke mode: append `:smoke`.

Expected result: MEASURE
"""

from experiments.configs.autoencoder.common import autoencoder_config


def get_config(arg: str | None = None):
    if arg not in (None, "", "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    return autoencoder_config("autoencoder", "classic", smoke=arg == "smoke")
