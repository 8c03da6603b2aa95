"""GloVe's objective (Pennington, Socher and Manning, 2014): weighted least squares on log counts.

  J = sum over nonzero X_ij of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2,
  f(x) = min(1, (x / x_max)^alpha),  x_max = 100, alpha = 0.75 (the paper's values)

The model (research/models/glove.py) predicts w_i . w~_j + b_i + b~_j; these functions score the
predictions. Config keys: `loss.x_max` and `loss.alpha` (experiments/configs/embeddings/glove.py).
"""

import jax
import jax.numpy as jnp


def weighting(counts, x_max: float, alpha: float) -> jax.Array:
    """f(X) = min(1, (X / x_max)^alpha), elementwise; counts float [...] > 0 -> float [...]."""
    return jnp.minimum(1.0, (counts / x_max) ** alpha)


def weighted_squared_error(predictions, counts, x_max: float, alpha: float) -> jax.Array:
    """f(X_ij) (prediction_ij - log X_ij)^2 per entry: predictions, counts float [B] -> [B].

    The sum over all nonzero entries is GloVe's J; `0.5 *` it is the cost GloVe's C code prints
    (per entry) and differentiates.
    """
    diff = predictions - jnp.log(counts)
    return weighting(counts, x_max, alpha) * diff**2


def glove_loss(predictions, counts, x_max: float, alpha: float) -> tuple[jax.Array, dict]:
    """(0.5 * the batch's sum of weighted squared errors, {'loss': (that sum, B)}): float [B] in.

    The summed loss gives each entry glove.c's own per-entry gradient (AdaGrad then scales it per
    parameter); the reported loss is its mean per entry, the "cost" glove.c prints.
    """
    cost = 0.5 * weighted_squared_error(predictions, counts, x_max, alpha)
    total = cost.sum()
    return total, {"loss": (total, jnp.float32(cost.shape[0]))}
