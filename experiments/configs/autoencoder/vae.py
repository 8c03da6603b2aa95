"""Variational autoencoder on binarized 8x8 digits (embedded): negative ELBO, samples, latent map.

Run:
  python -m experiments.train_autoencoder --config=experiments/configs/autoencoder/vae.py \
      --workdir=runs/ae_vae
Smoke mode: append `:smoke`.

Expected result: MEASURE
"""

from experiments.configs.autoencoder.common import autoencoder_config


def get_config(arg: str | None = None):
    if arg not in (None, "", "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    config = autoencoder_config("vae", "digits", smoke=arg == "smoke")
    config.data.binarize = True  # Bernoulli decoder: the bound is on log p(x) of binary images
    return config
