"""Autoencoder (conv) on scikit-learn's 8x8 digits (embedded), against PCA at the same latent size.

Run:
  python -m experiments.train_autoencoder --config=experiments/configs/autoencoder/conv.py \
      --workdir=runs/ae_conv
Smoke mode: append `:smoke`.

Expected result (measured on the shared 2-core CPU, 3000 steps): test reconstruction MSE
0.00503 per pixel (PSNR 23.6 dB) against 0.0116 for PCA with 16 components (2.3x better; the dense
classic config reaches 0.00559). 53 s in all (105 s at load average 15).
"""

from experiments.configs.autoencoder.common import autoencoder_config
from experiments.configs.common import parse_arg


def get_config(arg: str | None = None):
    return autoencoder_config("autoencoder", "conv", smoke=parse_arg(arg))
