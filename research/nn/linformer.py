"""Linformer attention (Wang et al., 2020): keys and values projected along length to k << S rows.

    softmax(q (E k)^T * scale) (F v),   E, F: [k, S_max], used as E[:, :S], F[:, :S]

Each projected key is a learned mixture of the S keys (likewise values), so scores are [T, k]
instead of [T, S]: time and memory linear in S for a fixed k. E and F are shared by all heads
(the paper's headwise sharing). Sequences shorter than S_max use the first S columns, as the
reference implementations do.

Linformer is non-causal: every projected row mixes all S positions, so any query would read the
future. There is no causal variant here (`causal=True` is refused); causal models use the exact
implementations, the local window, or Performer.

How good the approximation is depends on E and F. With k = S and E = F = identity it is dense
attention exactly. When keys and values are low-rank along length (rank r <= k, e.g. r distinct
rows repeated evenly) projections that average each distinct row reproduce dense attention.
Random projections are no approximation on random data: measured in the tests, the relative
error of the output against dense attention is about sqrt(S/k + 1) (2.1 at k = S/4, with E, F ~
N(0, 1/S), the module's initialization) and falls only slowly as k grows; Linformer's accuracy
comes from learning E and F.

Shapes: q [B,T,N,H], k and v [B,S,K,H] (K divides N), E and F [k, S_max] with S <= S_max.
"""

import flax.linen as nn
import jax.numpy as jnp

from research.nn.attention import dot_product_attention


def linformer_attention(
    q, k, v, key_projection, value_projection, *, causal=False, key_valid=None, scale=None
):
    """softmax(q (E k)^T * scale) (F v) with E, F applied along length.

    Shapes: q [B,T,N,H], k [B,S,K,H], v [B,S,K,H], key_projection E and value_projection F
    [k, S_max] (S <= S_max) -> [B,T,N,H].

    Args:
      causal: must be False (see the module docstring).
      key_valid: optional bool [B,S], False for padding keys: they are zeroed before the
        projection, so padding content never reaches the output.
      scale: multiplies the scores; None is 1/sqrt(H).
    """
    if causal:
        raise ValueError(
            "Linformer has no causal form (its projections mix all positions, so a query would "
            "read the future); use causal=False, or a causal implementation such as local "
            "attention or Performer."
        )
    if key_projection.ndim != 2 or key_projection.shape != value_projection.shape:
        raise ValueError(
            f"key_projection and value_projection must both be [k, S_max], got "
            f"{key_projection.shape} and {value_projection.shape}."
        )
    if k.ndim != 4 or k.shape != v.shape:
        raise ValueError(f"k and v must be [B,S,K,H] of one shape, got {k.shape} and {v.shape}.")
    length, max_length = k.shape[1], key_projection.shape[1]
    if length > max_length:
        raise ValueError(
            f"Sequence length {length} exceeds the Linformer projections' S_max={max_length}; "
            "build the layer with max_length >= the longest sequence, or shorten the input."
        )
    if key_valid is not None:
        valid = jnp.asarray(key_valid, k.dtype)[:, :, None, None]
        k, v = k * valid, v * valid
    projected_k = jnp.einsum("PS,BSKH->BPKH", key_projection[:, :length].astype(k.dtype), k)
    projected_v = jnp.einsum("PS,BSKH->BPKH", value_projection[:, :length].astype(v.dtype), v)
    return dot_product_attention(q, projected_k, projected_v, causal=False, scale=scale)


class Linformer(nn.Module):
    """Holds Linformer's projections E (`e`) and F (`f`), [k, S_max], axes (None, 'length').

    Shapes: q [B,T,N,H], k [B,S,K,H], v [B,S,K,H] (S <= max_length) -> [B,T,N,H].

    The initialization N(0, 1/S_max) keeps a projected key or value at the scale of one input
    row (a sum of S_max rows with weights of variance 1/S_max).
    """

    max_length: int
    projected_length: int
    scale: float | None = None
    param_dtype: jnp.dtype = jnp.float32
    projection_init: nn.initializers.Initializer = nn.initializers.variance_scaling(
        1.0, "fan_in", "normal", in_axis=-1, out_axis=-2
    )

    @nn.compact
    def __call__(self, q, k, v, *, causal: bool = False, key_valid=None):
        if self.projected_length < 1 or self.max_length < 1:
            raise ValueError(
                f"Linformer needs projected_length k >= 1 and max_length >= 1, got "
                f"k={self.projected_length}, max_length={self.max_length}."
            )
        shape = (self.projected_length, self.max_length)
        axes = (None, "length")
        e = self.param("e", nn.with_logical_partitioning(self.projection_init, axes), shape)
        f = self.param("f", nn.with_logical_partitioning(self.projection_init, axes), shape)
        return linformer_attention(
            q, k, v, e, f, causal=causal, key_valid=key_valid, scale=self.scale
        )
