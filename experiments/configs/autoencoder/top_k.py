"""k-sparse autoencoder (top_k) on scikit-learn's 8x8 digits (embedded): 64 code units, of which
exactly 8 are non-zero per image, against PCA with 8 components.

Run:
  python -m experiments.train_autoencoder --config=experiments/configs/autoencoder/top_k.py \
      --workdir=runs/ae_top_k
Smoke mode: append `:smoke`.

Expected result (measured on the shared 2-core CPU, 3000 steps): exactly 8 of the 64 code units
are non-zero for every test image (inactive fraction 0.875); test MSE 0.0108 per pixel against
0.0244 for PCA with 8 components (pca_mse_at_k in results.json: the same count of numbers per
image). 36 s in all at load average 15.
"""

from experiments.configs.autoencoder.common import autoencoder_config
from experiments.configs.common import parse_arg


def get_config(arg: str | None = None):
    return autoencoder_config("autoencoder", "top_k", smoke=parse_arg(arg))
