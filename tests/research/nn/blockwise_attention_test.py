"""Tests for research/nn/blockwise_attention.py: values and gradients equal the einsum reference
path for every mask, head grouping, length and block size; fully masked rows are 0 (the convention);
causal blocks after the diagonal are never read (forward and backward, shown with NaN poison); the
compiled backward's temporary memory grows linearly, not quadratically; bad input is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn import masks
from research.nn.attention import dot_product_attention
from research.nn.blockwise_attention import blockwise_attention

B, N, H = 2, 4, 8


def _qkv(seed, t=37, s=37, kv_heads=N, dtype=jnp.float32):
    kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
    q = jax.random.normal(kq, (B, t, N, H), dtype)
    k = jax.random.normal(kk, (B, s, kv_heads, H), dtype)
    v = jax.random.normal(kv, (B, s, kv_heads, H), dtype)
    return q, k, v


def _value_and_grads(attention, q, k, v, bias=None):
    """Output, and the gradients wrt (q, k, v[, bias]) of sum(out * w) for a fixed random w; one
    jitted program (compiling is most of these tests' time)."""
    w = jax.random.normal(jax.random.key(99), q.shape[:3] + (v.shape[-1],))
    args = (q, k, v) if bias is None else (q, k, v, bias)

    @jax.jit
    def run(*args):
        out, vjp = jax.vjp(lambda *a: attention(*a, *([None] * (4 - len(a)))), *args)
        return out, vjp(w)

    return run(*args)


# Row 0 of the batch is all real; row 1 is left-padded (its first 6 keys are padding), so under
# the causal mask its first 6 queries see no key at all: fully masked rows.
def _key_valid(s):
    return np.arange(s)[None, :] >= np.array([[0], [6]])


def _segments(t):
    """Two packed examples and trailing padding (id 0) in row 0; three in row 1."""
    ids = np.zeros((B, t), np.int32)
    ids[0, :20], ids[0, 20:33] = 1, 2
    ids[1, :7], ids[1, 7:19], ids[1, 19:] = 1, 2, 3
    return ids


CASES = {
    # name: (blockwise kwargs, dense mask for the reference, T, S, K, block_q, block_k)
    "causal": (dict(causal=True), None, 37, 37, N, 8, 6),
    "causal_blocks_divide_multi_query": (dict(causal=True), None, 32, 32, 1, 8, 16),
    "causal_one_row_blocks": (dict(causal=True), None, 11, 11, N, 1, 1),
    "causal_t_longer_than_s_grouped_query": (dict(causal=True), None, 37, 29, 2, 8, 6),
    "non_causal_t_shorter_than_s": (dict(causal=False), None, 19, 37, N, 5, 7),
    "padding": (
        dict(causal=False, key_valid=_key_valid(37)),
        masks.padding_mask(_key_valid(37)),
        37,
        37,
        N,
        8,
        6,
    ),
    "padding_causal_fully_masked_rows_grouped_query": (
        dict(causal=True, key_valid=_key_valid(37)),
        masks.padding_mask(_key_valid(37)),
        37,
        37,
        2,
        8,
        6,
    ),
    "query_padding": (
        dict(causal=True, query_valid=_key_valid(37)),
        _key_valid(37)[:, None, :, None],
        37,
        37,
        N,
        8,
        6,
    ),
    "segments": (
        dict(causal=True, query_segment_ids=_segments(37)),
        masks.segment_mask(_segments(37)),
        37,
        37,
        2,
        8,
        6,
    ),
    "dense_padding_mask": (
        dict(causal=True, mask=masks.padding_mask(_key_valid(37))),
        masks.padding_mask(_key_valid(37)),
        37,
        37,
        N,
        8,
        6,
    ),
    "dense_random_mask": (
        dict(causal=False, mask=np.random.default_rng(0).random((B, N, 19, 29)) < 0.3),
        np.random.default_rng(0).random((B, N, 19, 29)) < 0.3,
        19,
        29,
        2,
        8,
        6,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradients_equal_the_einsum_path(case):
    # Catches any error in the online softmax (a missing rescale by exp(m_old - m_new)), a mask
    # dropped or misaligned in a block, padding keys that leak, wrong GQA head grouping, a wrong
    # skip bound, and a backward pass that does not match autodiff of the dense formula.
    kwargs, dense_mask, t, s, kv_heads, block_q, block_k = CASES[case]
    q, k, v = _qkv(0, t=t, s=s, kv_heads=kv_heads)

    def reference(q, k, v, bias):
        return dot_product_attention(q, k, v, causal=kwargs["causal"], mask=dense_mask)

    def blockwise(q, k, v, bias):
        return blockwise_attention(q, k, v, **kwargs, block_q=block_q, block_k=block_k)

    out, grads = _value_and_grads(blockwise, q, k, v)
    want, want_grads = _value_and_grads(reference, q, k, v)
    # Observed up to 2.4e-6 (gradients), 5e-7 (values).
    np.testing.assert_allclose(out, want, atol=1e-5)
    for name, got, expected in zip("qkv", grads, want_grads, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"d{name}")


def test_bias_values_and_gradients_equal_the_einsum_path():
    # A bias [1,N,T,S] (T5's relative positions) sliced per block; its gradient sums over the
    # batch. Catches a bias sliced at the wrong block, added before the scale, or a dbias that
    # misses the broadcast reduction.
    q, k, v = _qkv(1, t=37, s=29, kv_heads=2)
    bias = 2.0 * jax.random.normal(jax.random.key(2), (1, N, 37, 29))

    def reference(q, k, v, bias):
        return dot_product_attention(q, k, v, causal=True, bias=bias)

    def blockwise(q, k, v, bias):
        return blockwise_attention(q, k, v, causal=True, bias=bias, block_q=8, block_k=6)

    out, grads = _value_and_grads(blockwise, q, k, v, bias)
    want, want_grads = _value_and_grads(reference, q, k, v, bias)
    np.testing.assert_allclose(out, want, atol=1e-5)
    for name, got, expected in zip(("q", "k", "v", "bias"), grads, want_grads, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"d{name}")


def test_fully_masked_rows_are_zero_with_zero_gradient():
    # The project's convention (research.nn.reference_attention), not NaN and not the mean of v:
    # batch row 1 has no valid key at all. Catches a fallback to jax.nn's uniform row.
    q, k, v = _qkv(3, t=9, s=11)
    key_valid = np.stack([np.ones(11, bool), np.zeros(11, bool)])
    out = blockwise_attention(q, k, v, causal=True, key_valid=key_valid, block_q=4, block_k=4)
    np.testing.assert_array_equal(out[1], 0.0)
    assert np.abs(out[0]).min() > 0
    grads = jax.grad(
        lambda q, k, v: blockwise_attention(q, k, v, causal=True, key_valid=key_valid).sum(),
        argnums=(0, 1, 2),
    )(q, k, v)
    for grad in grads:
        np.testing.assert_array_equal(grad[1], 0.0)
        assert np.abs(grad[0]).max() > 0


def test_bfloat16_inputs_keep_float32_statistics():
    q, k, v = _qkv(4)
    half = blockwise_attention(*(x.astype(jnp.bfloat16) for x in (q, k, v)), causal=True)
    assert half.dtype == jnp.bfloat16
    # Observed 8e-3, like the einsum path in bfloat16 (probabilities cast to bfloat16).
    error = np.abs(half.astype(jnp.float32) - dot_product_attention(q, k, v, causal=True)).max()
    assert error < 3e-2, error


def test_causal_queries_never_read_key_blocks_after_their_diagonal():
    # NaN poison in keys and values from position 16 on: a query block that read a key block past
    # its diagonal would turn NaN (0 * NaN in P V) even though those keys are masked. The einsum
    # path reads everything, so its early rows do turn NaN: the poison is effective.
    q, k, v = _qkv(5, t=32, s=32)
    poisoned_k, poisoned_v = (x.at[:, 16:].set(jnp.nan) for x in (k, v))
    out = blockwise_attention(q, poisoned_k, poisoned_v, causal=True, block_q=8, block_k=8)
    clean = blockwise_attention(q, k, v, causal=True, block_q=8, block_k=8)
    np.testing.assert_array_equal(out[:, :16], clean[:, :16])
    assert np.isnan(out[:, 16:]).all()
    assert np.isnan(dot_product_attention(q, poisoned_k, poisoned_v, causal=True)[:, :16]).all()
    assert np.isnan(blockwise_attention(q, poisoned_k, poisoned_v, causal=False)[:, :16]).all()


def test_backward_key_blocks_never_read_query_blocks_before_their_diagonal():
    # NaN queries in query block 0 (rows 0-7); the loss reads rows 8 on only. Key block j >= 1 may
    # only meet query blocks i >= j in the backward pass; visiting block 0 would make its dK and
    # dV NaN.
    q, k, v = _qkv(6, t=32, s=32)
    poisoned = q.at[:, :8].set(jnp.nan)

    def grads(q):
        def loss(q, k, v):
            out = blockwise_attention(q, k, v, causal=True, block_q=8, block_k=8)
            return jnp.sum(out[:, 8:] ** 2)

        return jax.grad(loss, argnums=(1, 2))(q, k, v)

    (dk, dv), (clean_dk, clean_dv) = grads(poisoned), grads(q)
    np.testing.assert_allclose(dk[:, 8:], clean_dk[:, 8:], atol=1e-6)
    np.testing.assert_allclose(dv[:, 8:], clean_dv[:, 8:], atol=1e-6)
    assert np.isnan(dk[:, :8]).all()  # block 0 does meet the poisoned rows: the test bites


def _backward_temp_bytes(attention, length):
    x = jax.ShapeDtypeStruct((1, length, 1, 16), jnp.float32)
    grad = jax.grad(lambda q, k, v: attention(q, k, v).sum(), argnums=(0, 1, 2))
    return jax.jit(grad).lower(x, x, x).compile().memory_analysis().temp_size_in_bytes


def test_backward_memory_grows_linearly_not_quadratically():
    # Compile only (nothing runs). A backward pass that kept the [T,S] probabilities (or any
    # [T,S] array) would grow 16x from T = 2048 to 8192, like the einsum path's (observed 9.6x:
    # 84 MB -> 805 MB); blockwise's temporaries are O(T) (observed 1.7 MB -> 3.8 MB, 2.2x).
    def blockwise(q, k, v):
        return blockwise_attention(q, k, v, causal=True, block_q=256, block_k=256)

    def einsum(q, k, v):
        return dot_product_attention(q, k, v, causal=True)

    blockwise_growth = _backward_temp_bytes(blockwise, 8192) / _backward_temp_bytes(blockwise, 2048)
    einsum_growth = _backward_temp_bytes(einsum, 8192) / _backward_temp_bytes(einsum, 2048)
    assert blockwise_growth < 4.5, blockwise_growth
    assert einsum_growth > 8, einsum_growth


def test_bad_inputs_are_refused_with_value_errors():
    q, k, v = _qkv(7, t=6, s=6)
    with pytest.raises(ValueError, match="block_q must be a positive int"):
        blockwise_attention(q, k, v, causal=True, block_q=0)
    with pytest.raises(ValueError, match="block_k must be a positive int"):
        blockwise_attention(q, k, v, causal=True, block_k=-2)
    with pytest.raises(ValueError, match=r"must be \[B,T,N,H\]"):
        blockwise_attention(q[0], k, v, causal=True)
    with pytest.raises(ValueError, match="k's heads must divide q's heads"):
        blockwise_attention(q, k[:, :, :3], v[:, :, :3], causal=True)
    with pytest.raises(ValueError, match=r"key_valid must be \[B,6\]"):
        blockwise_attention(q, k, v, causal=True, key_valid=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="need query_segment_ids too"):
        blockwise_attention(q, k, v, causal=True, key_segment_ids=np.ones((2, 6), int))
    with pytest.raises(ValueError, match="which needs S == T"):
        blockwise_attention(q, k[:, :4], v[:, :4], causal=True, query_segment_ids=np.ones((2, 6)))
    with pytest.raises(ValueError, match="each dim 1 or full"):
        blockwise_attention(q, k, v, causal=True, mask=np.ones((2, 1, 3, 6), bool))
