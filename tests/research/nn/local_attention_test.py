"""Tests for research/nn/local_attention.py: the dense mask by hand, the banded computation equal
to dense attention under that mask (values and gradients; causal and not; windows that do and do
not divide T; global tokens; grouped-query heads; a key padding mask), no [T, T] intermediate,
and input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.attention import dot_product_attention
from research.nn.local_attention import local_attention, local_mask


def _qkv(seed, t, n=4, kv_heads=2, h=8):
    kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
    q = jax.random.normal(kq, (2, t, n, h))
    k = jax.random.normal(kk, (2, t, kv_heads, h))
    v = jax.random.normal(kv, (2, t, kv_heads, h))
    return q, k, v


def test_mask_by_hand():
    causal = np.array(local_mask(5, 2, causal=True)[0, 0], int)
    # Query i sees i-1 and i: a two-wide diagonal band.
    np.testing.assert_array_equal(
        causal,
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]],
    )
    both = np.array(local_mask(5, 1, causal=False, global_positions=[3])[0, 0], int)
    # |i-j| <= 1 (tridiagonal) plus row 3 and column 3 all ones.
    np.testing.assert_array_equal(
        both,
        [[1, 1, 0, 1, 0], [1, 1, 1, 1, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 1]],
    )
    causal_global = np.array(local_mask(5, 1, causal=True, global_positions=[1])[0, 0], int)
    # Window of one (only itself); global 1 reads keys <= 1 and is read by queries >= 1.
    np.testing.assert_array_equal(
        causal_global,
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 0, 1, 0], [0, 1, 0, 0, 1]],
    )


CASES = [
    # (causal, T, window, global positions): window divides T (12/4); does not (14/4); window 1;
    # window >= T (one block); globals at the ends, inside each other's windows, several.
    (True, 12, 4, (0, 11)),
    (False, 12, 4, (0, 11)),
    (True, 14, 4, (2, 3, 9)),
    (False, 14, 4, (2, 3, 9)),
    (True, 11, 1, ()),
    (False, 7, 9, (3,)),
]


@pytest.mark.parametrize("causal,length,window,global_positions", CASES)
def test_equals_dense_with_mask_values_and_gradients(causal, length, window, global_positions):
    # Catches band off-by-ones (a block shifted, the c+1 block missing, padded keys attended) and
    # double-counted or missing global rows/columns: any of them changes some output.
    q, k, v = _qkv(length, length)
    mask = local_mask(length, window, causal=causal, global_positions=global_positions)

    def banded(q, k, v):
        return local_attention(
            q, k, v, window=window, causal=causal, global_positions=global_positions
        )

    def dense(q, k, v):
        return dot_product_attention(q, k, v, causal=False, mask=mask)

    probe = jax.random.normal(jax.random.key(1), q.shape)

    @jax.jit
    def values_and_grads(q, k, v):
        outs = banded(q, k, v), dense(q, k, v)
        grads = [
            jax.grad(lambda *a, f=f: jnp.sum(f(*a) * probe), argnums=(0, 1, 2))(q, k, v)
            for f in (banded, dense)
        ]
        return outs, grads

    (got, want), (got_grads, want_grads) = values_and_grads(q, k, v)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got, want in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("causal,global_positions", [(True, ()), (False, (2, 9)), (True, (5,))])
def test_key_mask_equals_dense_on_real_queries_values_and_gradients(causal, global_positions):
    # Row 0 left-padded by 5, row 1 right-padded by 3 (T = 14, window 4: it does not divide T).
    # A key mask lost in the band, the global columns or the global rows changes a real query's
    # output or lets a padded key get a gradient. Padding queries are compared nowhere: their
    # outputs are meaningless (no real key in view) and differ between the two paths.
    length, window = 14, 4
    q, k, v = _qkv(7, length)
    real = jnp.arange(length)[None, :] >= jnp.array([[5], [0]])
    real = real & (jnp.arange(length)[None, :] < jnp.array([[length], [length - 3]]))
    mask = local_mask(length, window, causal=causal, global_positions=global_positions)
    mask = mask & real[:, None, None, :]
    weight = real[:, :, None, None] * jax.random.normal(jax.random.key(2), q.shape)

    def banded(q, k, v):
        return local_attention(
            q, k, v, window=window, causal=causal, global_positions=global_positions, key_mask=real
        )

    def dense(q, k, v):
        return dot_product_attention(q, k, v, causal=False, mask=mask)

    @jax.jit
    def values_and_grads(q, k, v):
        return [
            (f(q, k, v) * weight, jax.grad(lambda *a, f=f: jnp.sum(f(*a) * weight), (0, 1, 2))(q, k, v))
            for f in (banded, dense)
        ]  # fmt: skip

    (got, got_grads), (want, want_grads) = values_and_grads(q, k, v)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got, want in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    padded_keys = ~real[:, :, None, None]
    assert float(jnp.abs(jnp.where(padded_keys, got_grads[1], 0)).max()) == 0.0
    assert float(jnp.abs(got_grads[1]).max()) > 0.0


def test_causal_window_ignores_keys_outside_it():
    # Changing keys/values more than w-1 positions back (and any later ones) leaves query 9 alone.
    q, k, v = _qkv(3, 16, n=2, kv_heads=2)
    out = local_attention(q, k, v, window=3, causal=True)
    k2 = k.at[:, :7].set(5.0).at[:, 10:].set(-5.0)
    v2 = v.at[:, :7].set(5.0).at[:, 10:].set(-5.0)
    out2 = local_attention(q, k2, v2, window=3, causal=True)
    np.testing.assert_array_equal(out[:, 9], out2[:, 9])
    assert not np.allclose(out[:, 10], out2[:, 10])


def test_memory_is_banded_no_length_squared_intermediate():
    # Catches a regression to a dense [T, T] score matrix: at T=512, w=8 every intermediate of
    # the traced program (forward and backward) holds fewer than T*T/8 elements per batch-head.
    length, window = 512, 8
    q, k, v = _qkv(0, length, n=1, kv_heads=1, h=4)
    q, k, v = q[:1], k[:1], v[:1]

    key_mask = jnp.arange(length)[None] >= 3  # left padding: the mask is banded too

    def loss(q, k, v):
        return jnp.sum(
            local_attention(
                q, k, v, window=window, causal=True, global_positions=[0], key_mask=key_mask
            )
        )

    jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)
    largest = max(
        int(np.prod(var.aval.shape))
        for eqn in jaxpr.eqns
        for var in eqn.outvars
        if hasattr(var.aval, "shape")
    )
    assert largest < length * length // 8, largest


def test_bad_input():
    q, k, v = _qkv(0, 8)
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        local_attention(q, k, v, window=0, causal=True)
    with pytest.raises(ValueError, match="global_positions must be distinct positions"):
        local_attention(q, k, v, window=2, causal=True, global_positions=[8])
    with pytest.raises(ValueError, match="global_positions must be distinct positions"):
        local_mask(8, 2, causal=False, global_positions=[1, 1])
    with pytest.raises(ValueError, match="Local attention is self-attention"):
        local_attention(q, k[:, :5], v[:, :5], window=2, causal=True)
    with pytest.raises(ValueError, match="key_mask must be bool"):
        local_attention(q, k, v, window=2, causal=True, key_mask=jnp.ones((2, 7), bool))
