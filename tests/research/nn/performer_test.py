"""Tests for research/nn/performer.py: orthogonal random features (orthogonal blocks, chi norms), the
positive feature map's kernel estimate is unbiased for exp(q.k), the stabilizers cancel, causal and
bidirectional FAVOR+ equal their own quadratic form (catches prefix-sum off-by-ones), the error
against dense attention falls with m and stays under a measured bound, the redraw schedule, the
module, and input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.attention import dot_product_attention
from research.nn.performer import (
    Performer,
    orthogonal_random_features,
    performer_attention,
    performer_features,
    positive_random_features,
    redrawn_projection,
)


def _qkv(seed, b=2, t=13, n=4, kv_heads=2, h=8):
    kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
    q = jax.random.normal(kq, (b, t, n, h))
    k = jax.random.normal(kk, (b, t, kv_heads, h))
    v = jax.random.normal(kv, (b, t, kv_heads, h))
    return q, k, v


def test_orthogonal_blocks_and_chi_norms():
    w = orthogonal_random_features(jax.random.key(0), 20, 8)  # blocks of 8, 8, 4 rows
    assert w.shape == (20, 8)
    for block in (w[:8], w[8:16], w[16:]):
        gram = np.asarray(block @ block.T)
        np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-5)
    # Norms are chi(8), not all equal to sqrt(8): E|w|^2 = 8 over many rows, with spread.
    many = orthogonal_random_features(jax.random.key(1), 8 * 500, 8)
    squared = np.sum(np.asarray(many) ** 2, axis=1)
    np.testing.assert_allclose(squared.mean(), 8.0, rtol=0.05)
    np.testing.assert_allclose(squared.var(), 16.0, rtol=0.2)  # chi^2(8) variance 2*8
    # Marginally N(0, I): the second moment matrix is the identity.
    np.testing.assert_allclose(np.asarray(many.T @ many) / len(many), np.eye(8), atol=0.1)


def test_kernel_estimate_is_unbiased_for_exp_dot():
    # phi(q).phi(k) averaged over 4000 independent draws of W (m = 16) vs exp(q.k) = 1.51.
    # Measured: within 0.3% (standard error 1.2%); the bound is 4 standard errors. Catches a
    # wrong sign or a missing |x|^2/2 (a factor exp(+-(|q|^2+|k|^2)/2) = 0.5 or 2 here) or a
    # missing 1/sqrt(m) (a factor 16).
    d = 8
    q = jax.random.normal(jax.random.key(1), (d,)) * 0.35
    k = 0.35 * jax.random.normal(jax.random.key(2), (d,)) + 0.5 * q
    exact = float(jnp.exp(q @ k))

    @jax.jit
    def estimate(rng):
        w = orthogonal_random_features(rng, 16, d)
        phi_q = positive_random_features(q[None, None, None], w)
        phi_k = positive_random_features(k[None, None, None], w)
        return jnp.sum(phi_q * phi_k)

    draws = jax.vmap(estimate)(jax.random.split(jax.random.key(0), 4000))
    standard_error = float(draws.std()) / np.sqrt(len(draws))
    assert abs(float(draws.mean()) - exact) < 4 * standard_error, (draws.mean(), exact)
    assert standard_error < 0.03 * exact


def _quadratic_reference(q, k, v, projection, causal):
    """The same features, attention as an explicit [T,S] matrix phi(Q) phi(K)^T (causal-masked)."""
    phi_q, phi_k = performer_features(q, k, projection)
    groups = q.shape[2] // k.shape[2]
    phi_k = jnp.repeat(phi_k, groups, axis=2)
    v = jnp.repeat(v, groups, axis=2)
    scores = jnp.einsum("BTNM,BSNM->BNTS", phi_q, phi_k)
    if causal:
        scores = scores * jnp.tril(jnp.ones(scores.shape[-2:]))
    return (
        jnp.einsum("BNTS,BSNH->BTNH", scores, v) / jnp.sum(scores, -1).transpose(0, 2, 1)[..., None]
    )


@pytest.mark.parametrize("causal,chunk_size", [(True, 4), (True, 1), (True, 64), (False, 64)])
def test_equals_own_quadratic_form(causal, chunk_size):
    # T = 13 with chunks of 4 (a ragged last chunk), 1 (every step crosses a chunk boundary) and
    # 64 (one chunk). A prefix sum that includes the current chunk's state twice, skips the
    # diagonal or lets a key see the next chunk changes outputs by O(1e-2).
    q, k, v = _qkv(0)
    projection = orthogonal_random_features(jax.random.key(5), 32, 8)

    @jax.jit
    def both(q, k, v):
        def loss(f, *a):
            return jnp.sum(f(*a) * jnp.cos(jnp.arange(q.size).reshape(q.shape)))

        def fast(q, k, v):
            return performer_attention(q, k, v, projection, causal=causal, chunk_size=chunk_size)

        def slow(q, k, v):
            return _quadratic_reference(q, k, v, projection, causal)

        values = fast(q, k, v), slow(q, k, v)
        grads = [jax.grad(loss, argnums=(1, 2, 3))(f, q, k, v) for f in (fast, slow)]
        return values, grads

    (got, want), (got_grads, want_grads) = both(q, k, v)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got, want in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_stabilizers_cancel():
    # Dividing features by exp(max) must not change attention: compare with unstabilized features.
    q, k, v = _qkv(1, t=8, n=2, kv_heads=2)
    w = orthogonal_random_features(jax.random.key(2), 16, 8)
    root = 8**-0.25
    phi_q = positive_random_features(q * root, w)
    phi_k = positive_random_features(k * root, w)
    scores = jnp.einsum("BTNM,BSNM->BNTS", phi_q, phi_k)
    plain = jnp.einsum("BNTS,BSNH->BTNH", scores, v) / scores.sum(-1).transpose(0, 2, 1)[..., None]
    np.testing.assert_allclose(performer_attention(q, k, v, w, causal=False), plain, atol=1e-5)


def test_error_against_dense_falls_with_m():
    # d = 16, T = 64, random normal q, k, v, mean relative error of the output over 6 seeds.
    # Measured: m=16 1.43, m=64 1.19, m=256 0.98 (bidirectional). The error is large because
    # standard-normal inputs give features exp(w.x - |x|^2/2) with |x|^2 ~ 4 after the H^-1/4
    # scale: a heavy-tailed estimator, and the dense output (a near-uniform mean of 64 values) is
    # small. Bound at m=256: 3.0 (~3x the measurement).
    errors = {}
    for m in (16, 64, 256):

        @jax.jit
        def relative_error(seed, m=m):
            q, k, v = (
                jax.random.normal(key, (2, 64, 2, 16))
                for key in jax.random.split(jax.random.fold_in(jax.random.key(7), seed), 3)
            )
            w = orthogonal_random_features(jax.random.fold_in(jax.random.key(8), seed), m, 16)
            want = dot_product_attention(q, k, v, causal=False)
            got = performer_attention(q, k, v, w, causal=False)
            return jnp.linalg.norm(got - want) / jnp.linalg.norm(want)

        errors[m] = np.mean([float(relative_error(seed)) for seed in range(6)])
    assert errors[16] > errors[64] > errors[256], errors
    assert errors[256] < 3.0, errors


def test_redraw_schedule():
    rng = jax.random.key(3)

    @jax.jit
    def projection(step):
        return redrawn_projection(rng, step, num_features=8, dim=4, redraw_every=5)

    draws = [np.asarray(projection(step)) for step in range(12)]
    for step in range(12):
        # Fixed within [0,5), [5,10), [10,15); different across the boundaries.
        np.testing.assert_array_equal(draws[step], draws[5 * (step // 5)])
    assert not np.allclose(draws[4], draws[5])
    assert not np.allclose(draws[9], draws[10])


def test_module_has_no_params_and_uses_the_schedule():
    q, k, v = _qkv(2)
    layer = Performer(num_features=16, redraw_every=10, seed=4, chunk_size=4)
    assert layer.init(jax.random.key(0), q, k, v, causal=True) == {}
    for step in (3, 12):
        w = redrawn_projection(jax.random.key(4), step, num_features=16, dim=8, redraw_every=10)
        np.testing.assert_allclose(
            layer.apply({}, q, k, v, causal=True, step=step),
            performer_attention(q, k, v, w, causal=True, chunk_size=4),
            atol=1e-6,
        )
    assert not np.allclose(
        layer.apply({}, q, k, v, causal=True, step=9),
        layer.apply({}, q, k, v, causal=True, step=10),
    )


def test_bad_input():
    q, k, v = _qkv(0)
    w = orthogonal_random_features(jax.random.key(0), 8, 8)
    with pytest.raises(ValueError, match="num_features must be an integer >= 1"):
        orthogonal_random_features(jax.random.key(0), 0, 8)
    with pytest.raises(ValueError, match="redraw_every must be an integer >= 1"):
        redrawn_projection(jax.random.key(0), 0, num_features=8, dim=8, redraw_every=0)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        performer_attention(q, k, v, w, causal=True, chunk_size=0)
    with pytest.raises(ValueError, match="projection must be"):
        performer_attention(q, k, v, w[:, :4], causal=False)
    with pytest.raises(ValueError, match="Causal Performer attention is self-attention"):
        performer_attention(q, k[:, :5], v[:, :5], w, causal=True)
