"""Tests for research/nn/linformer.py: identity projections give dense attention exactly, keys and
values that are low-rank along length are reproduced by projections that preserve them, random
projections' error against dense matches its closed form and falls with k, padding keys never
reach the output, the module's parameters and logical axes, and input checks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.attention import dot_product_attention
from research.nn.linformer import Linformer, linformer_attention


def _qkv(seed, b=2, t=6, s=16, n=4, kv_heads=2, h=8):
    kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
    q = jax.random.normal(kq, (b, t, n, h))
    k = jax.random.normal(kk, (b, s, kv_heads, h))
    v = jax.random.normal(kv, (b, s, kv_heads, h))
    return q, k, v


def _relative_error(got, want):
    return float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want))


def test_identity_projections_equal_dense():
    # k = S, E = F = I: catches a projection applied along the wrong axis or transposed.
    q, k, v = _qkv(0)
    eye = jnp.eye(16)
    np.testing.assert_allclose(
        linformer_attention(q, k, v, eye, eye),
        dot_product_attention(q, k, v, causal=False),
        atol=1e-6,
    )


@pytest.mark.parametrize("repeats", [1, 2])
def test_low_rank_along_length_is_reproduced(repeats):
    # Keys and values take r = 4 distinct rows, each repeated S/r = 6 times along length (rank 4
    # along length). E = F average the positions of each distinct row (k = r, or k = 2r with each
    # row twice): every row keeps equal weight, so the softmax over projected keys equals dense
    # attention over all S keys up to float rounding.
    rank, length = 4, 24
    q, prototypes_k, prototypes_v = _qkv(1, s=rank)
    pattern = np.arange(length) % rank
    k, v = prototypes_k[:, pattern], prototypes_v[:, pattern]
    averaging = (pattern[None, :] == np.arange(rank)[:, None]) / (length / rank)
    projection = jnp.asarray(np.tile(averaging, (repeats, 1)), jnp.float32)  # [repeats * r, S]
    got = linformer_attention(q, k, v, projection, projection)
    want = dot_product_attention(q, k, v, causal=False)
    assert _relative_error(got, want) < 1e-6


def test_random_projection_error_matches_closed_form_and_falls_with_k():
    # Random E, F ~ N(0, 1/S) (the module's initialization) on random data, S = 64. Scores are
    # small, so both softmaxes are near uniform: dense gives the mean of S values (norm^2 ~ 1/S),
    # Linformer the mean of k independent random mixtures (norm^2 ~ 1/k), so the relative error
    # is about sqrt(S/k + 1): 3.0, 2.24, 1.73 at k = 8, 16, 32. Measured means over 6 seeds:
    # 2.52, 2.08, 1.68 (the closed form ignores the spread of the k projected scores, which
    # matters most at small k). A random projection is no approximation (error > 1); the test pins
    # the error to its closed form (20%) instead of a 10x bound, which would be vacuous at O(1).
    length = 64
    means = []
    for projected in (length // 8, length // 4, length // 2):
        errors = []
        for seed in range(6):
            q, k, v = _qkv(seed, b=2, t=16, s=length, n=2, kv_heads=2, h=16)
            ke, kf = jax.random.split(jax.random.key(100 + seed))
            e = jax.random.normal(ke, (projected, length)) / np.sqrt(length)
            f = jax.random.normal(kf, (projected, length)) / np.sqrt(length)
            want = dot_product_attention(q, k, v, causal=False)
            errors.append(_relative_error(linformer_attention(q, k, v, e, f), want))
        means.append(np.mean(errors))
        np.testing.assert_allclose(means[-1], np.sqrt(length / projected + 1), rtol=0.2)
    assert means[0] > means[1] > means[2], means
    assert means[1] < 2.6, means  # k = S/4: measured 2.08


def test_padding_keys_do_not_reach_the_output():
    q, k, v = _qkv(2)
    e, f = jax.random.normal(jax.random.key(3), (2, 5, 16))
    valid = jnp.arange(16)[None, :] < jnp.array([[11], [16]])
    out = linformer_attention(q, k, v, e, f, key_valid=valid)
    noisy_k = jnp.where(valid[:, :, None, None], k, 100.0)
    noisy_v = jnp.where(valid[:, :, None, None], v, -100.0)
    np.testing.assert_allclose(
        linformer_attention(q, noisy_k, noisy_v, e, f, key_valid=valid), out, atol=1e-6
    )


def test_module_params_axes_and_init_scale():
    q, k, v = _qkv(4, s=12)
    layer = Linformer(max_length=256, projected_length=32)
    variables = layer.init(jax.random.key(0), q, k, v)
    boxed = variables["params"]
    assert set(boxed) == {"e", "f"}
    for name in ("e", "f"):
        assert boxed[name].names == (None, "length")
        assert boxed[name].value.shape == (32, 256)
        # N(0, 1/S_max): std 1/16.
        np.testing.assert_allclose(float(jnp.std(boxed[name].value)), 1 / 16, rtol=0.1)
    params = nn.unbox(boxed)
    np.testing.assert_allclose(
        layer.apply({"params": params}, q, k, v),
        linformer_attention(q, k, v, params["e"], params["f"]),
        atol=1e-6,
    )


def test_bad_input():
    q, k, v = _qkv(0)
    e = jnp.ones((4, 8))
    with pytest.raises(ValueError, match="Linformer has no causal form"):
        linformer_attention(q, k, v, e, e, causal=True)
    with pytest.raises(ValueError, match="exceeds the Linformer projections' S_max=8"):
        linformer_attention(q, k, v, e, e)
    with pytest.raises(ValueError, match="must both be"):
        linformer_attention(q, k, v, e, jnp.ones((4, 9)))
    with pytest.raises(ValueError, match="projected_length k >= 1"):
        Linformer(max_length=16, projected_length=0).init(jax.random.key(0), q, k, v)
