"""Tests for research/nn/attention.py: hand-computed values, the 1/sqrt(H) scale, causality,
parity with jax.nn.dot_product_attention, cross-attention and additive bias against a numpy
reference, cached decoding against the full forward, and input checks."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.attention import MultiHeadAttention, dot_product_attention
from research.nn.kv_cache import KVCache


def _qkv(seed, b=2, t=5, s=5, n=3, h=8, dtype=jnp.float32):
    kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
    q = jax.random.normal(kq, (b, t, n, h), dtype)
    k = jax.random.normal(kk, (b, s, n, h), dtype)
    v = jax.random.normal(kv, (b, s, n, h), dtype)
    return q, k, v


def test_hand_built_two_tokens():
    # H=4, so scores are q.k / 2. q0.k0 = 2 -> 1, q0.k1 = 0 -> 0; q1.k0 = 0, q1.k1 = 2 -> 1.
    q = jnp.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])[None, :, None, :]  # [1,2,1,4]
    k = 2.0 * q
    v = jnp.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])[None, :, None, :]
    e = math.e
    full = dot_product_attention(q, k, v, causal=False)[0, :, 0]
    np.testing.assert_allclose(
        full, [[e / (e + 1), 1 / (e + 1), 0, 0], [1 / (e + 1), e / (e + 1), 0, 0]], rtol=1e-6
    )
    causal = dot_product_attention(q, k, v, causal=True)[0, :, 0]
    # Token 0 sees only itself; token 1 sees both, as above.
    np.testing.assert_allclose(causal, [[1, 0, 0, 0], [1 / (e + 1), e / (e + 1), 0, 0]], rtol=1e-6)


def test_scale_is_one_over_sqrt_head_dim():
    # Zero-padding q and k from H to 4H leaves q.k unchanged but doubles sqrt(H): the padded
    # attention must equal the unpadded one with q halved.
    q, k, v = _qkv(0, h=8)
    pad = ((0, 0), (0, 0), (0, 0), (0, 24))
    padded = dot_product_attention(jnp.pad(q, pad), jnp.pad(k, pad), jnp.pad(v, pad), causal=True)
    np.testing.assert_allclose(
        padded[..., :8], dot_product_attention(q / 2, k, v, causal=True), atol=1e-6
    )
    # And against numpy with the scale written out.
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(8)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    expected = np.einsum("bnts,bsnh->btnh", probs, v)
    np.testing.assert_allclose(dot_product_attention(q, k, v, causal=False), expected, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_jax_nn_xla(causal, with_mask):
    q, k, v = _qkv(1)
    mask = None
    if with_mask:  # a per-example key padding mask, broadcast over heads and queries
        mask = (jnp.arange(5)[None, :] < jnp.array([[5], [3]]))[:, None, None, :]
    ours = dot_product_attention(q, k, v, causal=causal, mask=mask)
    ref = jax.nn.dot_product_attention(q, k, v, mask=mask, is_causal=causal, implementation="xla")
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    xla = dot_product_attention(q, k, v, causal=causal, mask=mask, implementation="xla")
    np.testing.assert_allclose(xla, ref, atol=1e-6)


def test_causal_outputs_ignore_future_tokens():
    q, k, v = _qkv(2, t=6, s=6)
    q2, k2, v2 = _qkv(3, t=6, s=6)
    cut = 3  # replace everything from position 3 on
    mixed = [
        jnp.concatenate([a[:, :cut], b[:, cut:]], axis=1) for a, b in ((q, q2), (k, k2), (v, v2))
    ]
    out = dot_product_attention(q, k, v, causal=True)
    out_mixed = dot_product_attention(*mixed, causal=True)
    np.testing.assert_array_equal(out[:, :cut], out_mixed[:, :cut])
    assert not np.allclose(out[:, cut:], out_mixed[:, cut:])


def test_mask_blocks_keys():
    q, k, v = _qkv(4, t=4, s=4)
    only_first = jnp.array([True, False, False, False])  # broadcasts to [B,N,T,S]
    out = dot_product_attention(q, k, v, causal=False, mask=only_first)
    np.testing.assert_allclose(out, jnp.broadcast_to(v[:, :1], out.shape), atol=1e-6)


@pytest.mark.parametrize("implementation", [None, "xla", "blockwise", "local"])
def test_fully_masked_rows_are_zero_and_pass_no_gradient(implementation):
    # The convention of research.nn.reference_attention, for every implementation: a query that
    # may attend no key outputs exactly 0 and passes no gradient; the other rows are the softmax
    # over their visible keys alone. Catches jax.nn's uniform row (the mean of v) and NaN.
    q, k, v = _qkv(50, t=6, s=6)
    # Row 1 is left-padded by 3: under the causal mask its queries 0..2 see no key.
    start = np.array([0, 3])
    mask = (jnp.arange(6)[None, :] >= start[:, None])[:, None, None, :]
    window = 2 if implementation == "local" else None

    def attend(q, k, v):
        return dot_product_attention(
            q, k, v, causal=True, mask=mask, implementation=implementation, window=window
        )

    out, vjp = jax.vjp(attend, q, k, v)
    dq, dk, dv = vjp(jnp.cos(out))
    for array in (out, dq, dk, dv):  # padding queries and keys: 0 exactly
        np.testing.assert_array_equal(array[1, :3], 0.0)
    i, j = np.arange(6)[:, None], np.arange(6)[None, :]
    visible = (j <= i)[None] & (j >= start[:, None, None])  # [B,T,S]
    if window:
        visible &= (j > i - window)[None]
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(8)
    scores = np.where(visible[:, None], scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs = np.nan_to_num(probs / probs.sum(-1, keepdims=True))
    np.testing.assert_allclose(out, np.einsum("bnts,bsnh->btnh", probs, v), atol=1e-6)


def test_bfloat16_softmax_in_float32():
    q, k, v = _qkv(5)
    out = dot_product_attention(*(x.astype(jnp.bfloat16) for x in (q, k, v)), causal=True)
    assert out.dtype == jnp.bfloat16
    # Observed 6e-3 (bfloat16 inputs and probabilities, float32 scores and softmax).
    error = np.abs(out.astype(jnp.float32) - dot_product_attention(q, k, v, causal=True)).max()
    assert 1e-4 < error < 2e-2, error


def test_unknown_implementation_raises():
    q, k, v = _qkv(6)
    with pytest.raises(ValueError, match="flash"):
        dot_product_attention(q, k, v, causal=True, implementation="flash")


def test_cudnn_matches_reference_on_gpu():
    if jax.default_backend() != "gpu":
        pytest.skip("cuDNN attention needs an NVIDIA GPU")
    q, k, v = (x.astype(jnp.bfloat16) for x in _qkv(7, t=128, s=128, h=64))
    ours = dot_product_attention(q, k, v, causal=True).astype(jnp.float32)
    fused = dot_product_attention(q, k, v, causal=True, implementation="cudnn")
    np.testing.assert_allclose(fused.astype(jnp.float32), ours, atol=2e-2)


def test_multi_head_attention_equals_manual_projection():
    layer = MultiHeadAttention(num_heads=2, head_dim=3)
    x = jax.random.normal(jax.random.key(8), (2, 4, 5))
    variables = layer.init(jax.random.key(9), x)
    p = nn.unbox(variables["params"])
    proj = {
        name: jnp.einsum("BTD,DNH->BTNH", x, p[name]["kernel"]) + p[name]["bias"]
        for name in ("query", "key", "value")
    }
    attended = dot_product_attention(proj["query"], proj["key"], proj["value"], causal=True)
    expected = jnp.einsum("BTNH,NHD->BTD", attended, p["out"]["kernel"]) + p["out"]["bias"]
    np.testing.assert_allclose(layer.apply(variables, x, causal=True), expected, atol=1e-6)

    specs = nn.get_partition_spec(variables)["params"]
    for name in ("query", "key", "value"):
        assert p[name]["kernel"].shape == (5, 2, 3)
        assert tuple(specs[name]["kernel"]) == ("embed", "heads", "kv")
        assert tuple(specs[name]["bias"]) == ("heads", "kv")
    assert p["out"]["kernel"].shape == (2, 3, 5)
    assert tuple(specs["out"]["kernel"]) == ("heads", "kv", "embed")
    assert tuple(specs["out"]["bias"]) == ("embed",)


def test_multi_head_attention_dropout_only_in_train():
    layer = MultiHeadAttention(num_heads=2, head_dim=3, dropout_rate=0.5)
    x = jax.random.normal(jax.random.key(10), (2, 4, 5))
    variables = layer.init(jax.random.key(11), x)
    eval_out = layer.apply(variables, x)
    np.testing.assert_array_equal(eval_out, layer.apply(variables, x, train=False))
    train_out = layer.apply(variables, x, train=True, rngs={"dropout": jax.random.key(12)})
    kept = train_out != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(train_out[kept], 2 * eval_out[kept], rtol=1e-5)


def _numpy_attention(q, k, v, bias=None, mask=None):
    """The textbook formula in float64, written independently of the code under test."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + np.asarray(bias, np.float64)
    if mask is not None:
        scores = np.where(mask, scores, -1e30)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", probs, v)


def _project(x, p):
    return np.einsum("btd,dnh->btnh", np.asarray(x, np.float64), p["kernel"]) + p["bias"]


@pytest.mark.parametrize("implementation", [None, "xla"])
def test_bias_is_added_to_the_scaled_scores(implementation):
    # A bias of +/- a few units per (head, query, key) changes which keys win; the reference adds it
    # after the 1/sqrt(H) scale, so a bias scaled with the scores (or ignored) fails.
    q, k, v = _qkv(20, t=4, s=6)
    bias = 3.0 * jax.random.normal(jax.random.key(21), (1, 3, 4, 6))  # [1,N,T,S]
    out = dot_product_attention(q, k, v, causal=False, bias=bias, implementation=implementation)
    np.testing.assert_allclose(out, _numpy_attention(q, k, v, bias=bias), atol=2e-6)
    assert not np.allclose(out, _numpy_attention(q, k, v), atol=1e-2)


def test_cross_attention_reads_keys_and_values_from_inputs_kv():
    layer = MultiHeadAttention(num_heads=2, head_dim=3)
    x = jax.random.normal(jax.random.key(22), (2, 4, 5))  # queries: T=4
    memory = jax.random.normal(jax.random.key(23), (2, 7, 5))  # an encoder output: S=7
    padding = np.arange(7)[None, :] < np.array([[7], [4]])  # row 1 has 4 real memory positions
    mask = padding[:, None, None, :]  # [B,1,1,S]
    variables = layer.init(jax.random.key(24), x, memory)
    p = jax.tree.map(np.asarray, nn.unbox(variables["params"]))
    out = layer.apply(variables, x, memory, mask=mask)
    attended = _numpy_attention(
        _project(x, p["query"]), _project(memory, p["key"]), _project(memory, p["value"]), mask=mask
    )
    expected = np.einsum("btnh,nhd->btd", attended, p["out"]["kernel"]) + p["out"]["bias"]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # Padded memory positions change nothing: overwrite them and compare.
    noisy = memory.at[1, 4:].set(100.0)
    np.testing.assert_allclose(layer.apply(variables, x, noisy, mask=mask), out, atol=1e-6)


def test_cache_prefill_then_steps_equals_the_full_causal_forward():
    layer = MultiHeadAttention(num_heads=2, head_dim=4)
    x = jax.random.normal(jax.random.key(25), (2, 7, 8))
    bias = jax.random.normal(jax.random.key(26), (2, 7, 7))  # [N,T,S]: rows sliced per step
    variables = layer.init(jax.random.key(27), x)
    full = layer.apply(variables, x, causal=True, bias=bias)

    cache = KVCache.zeros(2, 7, 2, 4)
    prefill, cache = layer.apply(variables, x[:, :3], causal=True, cache=cache, bias=bias[:, :3])
    outputs = [prefill]
    for t in range(3, 7):
        y, cache = layer.apply(
            variables, x[:, t : t + 1], causal=True, cache=cache, bias=bias[:, t : t + 1]
        )
        outputs.append(y)
    assert int(cache.index) == 7
    np.testing.assert_allclose(jnp.concatenate(outputs, axis=1), full, atol=1e-6)
    with pytest.raises(ValueError, match="7 positions and 7 are filled; 1 more do not fit"):
        layer.apply(variables, x[:, :1], causal=True, cache=cache)


def test_bad_inputs_are_refused_with_value_errors():
    layer = MultiHeadAttention(num_heads=2, head_dim=3)
    x = jnp.zeros((2, 4, 5))
    variables = layer.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"\[B,T,D\], got \(4, 5\)"):
        layer.apply(variables, x[0])
    with pytest.raises(ValueError, match="inputs_kv must be"):
        layer.apply(variables, x, jnp.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="KV cache is for self-attention"):
        layer.apply(variables, x, x, cache=KVCache.zeros(2, 8, 2, 3))
    with pytest.raises(ValueError, match="pass them exactly when rotary_base is set"):
        layer.apply(variables, x, positions=jnp.arange(4))
    rotary = MultiHeadAttention(num_heads=2, head_dim=4, rotary_base=10_000.0)
    with pytest.raises(ValueError, match="pass them exactly when rotary_base is set"):
        rotary.init(jax.random.key(0), x)
    q, k, v = _qkv(0)
    with pytest.raises(ValueError, match="must be \\[B,T,N,H\\]"):
        dot_product_attention(q[0], k, v, causal=False)
    with pytest.raises(ValueError, match="agree on batch"):
        dot_product_attention(q, k[:1], v[:1], causal=False)


@pytest.mark.parametrize("implementation", [None, "xla"])
@pytest.mark.parametrize("num_kv_heads", [1, 2])
def test_grouped_query_attention_equals_repeated_key_value_heads(implementation, num_kv_heads):
    # N = 4 query heads over K key/value heads: query head n reads kv head n // (N / K), which is
    # multi-head attention with each kv head repeated N / K times (consecutively).
    q, _, _ = _qkv(30, n=4)
    _, k, v = _qkv(31, n=num_kv_heads)
    repeat = 4 // num_kv_heads
    out = dot_product_attention(q, k, v, causal=True, implementation=implementation)
    want = _numpy_attention(
        q,
        np.repeat(k, repeat, axis=2),
        np.repeat(v, repeat, axis=2),
        mask=np.tril(np.ones((5, 5), bool)),
    )
    np.testing.assert_allclose(out, want, atol=2e-6)


def test_kv_heads_must_divide_query_heads():
    q, _, _ = _qkv(0, n=4)
    _, k, v = _qkv(1, n=3)
    with pytest.raises(ValueError, match="k's heads must divide q's heads"):
        dot_product_attention(q, k, v, causal=False)
    with pytest.raises(ValueError, match="num_kv_heads=3 must divide num_heads=4"):
        MultiHeadAttention(num_heads=4, head_dim=2, num_kv_heads=3).init(
            jax.random.key(0), jnp.zeros((1, 2, 8))
        )


@pytest.mark.parametrize("implementation", [None, "xla"])
def test_scale_can_be_overridden(implementation):
    # T5 uses scale 1: scores are plain q.k, as if q were multiplied by sqrt(H).
    q, k, v = _qkv(2, h=16)
    out = dot_product_attention(q, k, v, causal=False, scale=1.0, implementation=implementation)
    np.testing.assert_allclose(out, _numpy_attention(4.0 * q, k, v), atol=3e-6)


def test_attention_dropout_drops_probabilities_and_rescales():
    q, k, v = _qkv(3, t=6, s=6, n=2, h=4)
    rng = jax.random.key(4)
    out = dot_product_attention(q, k, v, causal=False, dropout_rate=0.5, dropout_rng=rng)
    # The same keep pattern written out: probabilities * keep / (1 - rate), then times v.
    scores = np.einsum("btnh,bsnh->bnts", q, k) / 2.0
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    keep = np.asarray(jax.random.bernoulli(rng, 0.5, probs.shape))
    assert 0.3 < keep.mean() < 0.7
    want = np.einsum("bnts,bsnh->btnh", probs * keep / 0.5, v)
    np.testing.assert_allclose(out, want, atol=2e-6)
    # No rng (evaluation) or rate 0: no dropout.
    np.testing.assert_array_equal(
        dot_product_attention(q, k, v, causal=False, dropout_rate=0.5),
        dot_product_attention(q, k, v, causal=False),
    )
    with pytest.raises(ValueError, match="no attention-probability dropout"):
        dot_product_attention(
            q, k, v, causal=False, dropout_rate=0.1, dropout_rng=rng, implementation="xla"
        )


def test_multi_head_attention_grouped_heads_without_biases():
    layer = MultiHeadAttention(num_heads=4, head_dim=3, num_kv_heads=2, use_bias=False)
    x = jax.random.normal(jax.random.key(5), (2, 5, 8))
    params = nn.unbox(layer.init(jax.random.key(6), x)["params"])
    shapes = jax.tree.map(np.shape, params)
    assert shapes == {
        "query": {"kernel": (8, 4, 3)},
        "key": {"kernel": (8, 2, 3)},
        "value": {"kernel": (8, 2, 3)},
        "out": {"kernel": (4, 3, 8)},
    }
    q = np.einsum("btd,dnh->btnh", x, params["query"]["kernel"])
    k = np.einsum("btd,dnh->btnh", x, params["key"]["kernel"])
    v = np.einsum("btd,dnh->btnh", x, params["value"]["kernel"])
    y = _numpy_attention(q, np.repeat(k, 2, axis=2), np.repeat(v, 2, axis=2))
    want = np.einsum("btnh,nhd->btd", y, params["out"]["kernel"])
    np.testing.assert_allclose(layer.apply({"params": params}, x), want, atol=2e-6)


def test_multi_head_attention_dropout_on_probabilities_in_train_only():
    layer = MultiHeadAttention(num_heads=2, head_dim=4, attention_dropout_rate=0.3)
    x = jax.random.normal(jax.random.key(7), (1, 6, 8))
    variables = layer.init(jax.random.key(8), x)
    eval_out = layer.apply(variables, x)
    train_a = layer.apply(variables, x, train=True, rngs={"dropout": jax.random.key(9)})
    train_b = layer.apply(variables, x, train=True, rngs={"dropout": jax.random.key(10)})
    assert not np.allclose(train_a, eval_out, atol=1e-4)
    assert not np.allclose(train_a, train_b, atol=1e-4)


def test_blockwise_implementation_equals_the_reference_path():
    # implementation='blockwise' takes the same arguments: a [B,1,1,S] padding mask (what the GPT
    # passes), a bias, grouped kv heads and the scale; values and gradients equal the einsum path.
    q, _, _ = _qkv(40, t=9, s=9, n=4)
    _, k, v = _qkv(41, t=9, s=9, n=2)
    mask = (jnp.arange(9)[None, :] >= jnp.array([[0], [3]]))[:, None, None, :]
    bias = jax.random.normal(jax.random.key(42), (4, 9, 9))

    def run(q, k, v, implementation):
        def attend(q, k, v):
            return dot_product_attention(
                q, k, v, causal=True, mask=mask, bias=bias, implementation=implementation
            )

        out, vjp = jax.vjp(attend, q, k, v)
        return out, vjp(jnp.cos(out))

    run = jax.jit(run, static_argnums=3)
    out, grads = run(q, k, v, "blockwise")
    want, want_grads = run(q, k, v, None)
    np.testing.assert_allclose(out, want, atol=1e-5)
    for got, expected in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="'blockwise' has no attention-probability dropout"):
        dot_product_attention(
            q,
            k,
            v,
            causal=True,
            dropout_rate=0.1,
            dropout_rng=jax.random.key(0),
            implementation="blockwise",
        )


def test_blockwise_cached_decoding_equals_the_full_forward():
    # Decoding passes the cache's dense [T,L] mask with causal=False; blockwise slices it per block.
    layer = MultiHeadAttention(num_heads=2, head_dim=4, implementation="blockwise")
    x = jax.random.normal(jax.random.key(43), (2, 5, 8))
    variables = layer.init(jax.random.key(44), x)
    full = MultiHeadAttention(num_heads=2, head_dim=4).apply(variables, x, causal=True)
    y, cache = layer.apply(variables, x[:, :3], causal=True, cache=KVCache.zeros(2, 5, 2, 4))
    outputs = [y]
    for t in range(3, 5):
        y, cache = layer.apply(variables, x[:, t : t + 1], causal=True, cache=cache)
        outputs.append(y)
    np.testing.assert_allclose(jnp.concatenate(outputs, axis=1), full, atol=1e-6)


def _layer_grads(layer, variables, x, rows=None, **kwargs):
    """Output and gradients (parameters and input) of sum(cos(layer(x))) over the query `rows`
    (bool [B,T]; None: all)."""

    def loss(params, x):
        out = layer.apply({**variables, "params": params}, x, **kwargs)
        terms = jnp.cos(out) if rows is None else jnp.where(rows[:, :, None], jnp.cos(out), 0)
        return jnp.sum(terms), out

    # jit: one compiled program instead of op-by-op dispatch of the layer's scans (~10x faster).
    grad_fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
    (_, out), grads = grad_fn(variables["params"], x)
    return out, grads


def _assert_trees_close(got, want, atol):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, atol=atol)


@pytest.mark.parametrize("causal, with_mask", [(True, True), (False, True), (False, False)])
def test_local_implementation_equals_the_einsum_path_under_the_window_mask(causal, with_mask):
    # A window of 3 over 10 positions (not a multiple: the banded kernel pads), grouped kv heads,
    # with and without the GPT's [B,1,1,S] padding mask (row 1 left-padded by 4; both run the
    # banded kernel): the dense einsum path under local_mask (and the padding mask), values and
    # gradients on the real queries (a padding query with no real key in view has a meaningless
    # output, different on the two paths). A wrong window edge (< vs <=), a lost padding mask or a
    # causal flag ignored all change the output.
    from research.nn.local_attention import local_mask

    x = jax.random.normal(jax.random.key(50), (2, 10, 8))
    real = jnp.arange(10)[None, :] >= jnp.array([[0], [4]])
    mask = real[:, None, None, :] if with_mask else None
    rows = real if with_mask else None
    kw = dict(num_heads=4, head_dim=4, num_kv_heads=2)
    local = MultiHeadAttention(implementation="local", window=3, **kw)
    variables = local.init(jax.random.key(51), x)
    variables = {"params": jax.tree.map(lambda p: 10 * p, variables["params"])}  # peaked scores
    want_mask = local_mask(10, 3, causal=causal)
    if with_mask:
        want_mask = want_mask & mask
    out, grads = _layer_grads(local, variables, x, rows, causal=causal, mask=mask)
    want, want_grads = _layer_grads(
        MultiHeadAttention(**kw), variables, x, rows, causal=causal, mask=want_mask
    )
    keep = np.ones((2, 10), bool) if rows is None else np.asarray(rows)
    np.testing.assert_allclose(out[keep], want[keep], atol=1e-5)
    _assert_trees_close(grads, want_grads, atol=1e-5)
    dense = MultiHeadAttention(**kw).apply(variables, x, causal=causal, mask=mask)
    assert not np.allclose(out[keep], dense[keep], atol=1e-3)  # the window does cut keys here


def test_local_cached_decoding_equals_the_full_forward():
    # Prefill 4 then 4 single tokens through a cache of 8 slots; the window (2) is applied over
    # the cache's slots at each query's offset: a window counted from slot 0 instead of the
    # query's position, or no window at all, breaks equality.
    layer = MultiHeadAttention(num_heads=2, head_dim=4, implementation="local", window=2)
    x = jax.random.normal(jax.random.key(52), (2, 8, 8))
    variables = layer.init(jax.random.key(53), x)
    variables = {"params": jax.tree.map(lambda p: 10 * p, variables["params"])}
    full = layer.apply(variables, x, causal=True)
    y, cache = layer.apply(variables, x[:, :4], causal=True, cache=KVCache.zeros(2, 8, 2, 4))
    outputs = [y]
    for t in range(4, 8):
        y, cache = layer.apply(variables, x[:, t : t + 1], causal=True, cache=cache)
        outputs.append(y)
    np.testing.assert_allclose(jnp.concatenate(outputs, axis=1), full, atol=1e-5)


def _performer_layer(**kw):
    return MultiHeadAttention(
        num_heads=4, head_dim=8, num_kv_heads=2, implementation="performer", **kw
    )


def test_performer_implementation_equals_performer_attention_with_the_layers_draw(monkeypatch):
    # The layer projects q, k, v like the einsum layer and calls performer_attention with its
    # own features W = redrawn_projection(key(crc32(path)), 0, ...): recomputed by hand here from
    # the same projections, values and gradients (causal: the chunked prefix-sum scan).
    import zlib

    from research.nn.performer import performer_attention, redrawn_projection

    layer = _performer_layer(performer_features=16)
    x = jax.random.normal(jax.random.key(54), (2, 9, 8))
    variables = layer.init(jax.random.key(55), x)
    assert set(variables) == {"params"}  # no redraws: no counter
    projection = redrawn_projection(
        jax.random.key(zlib.crc32(b"")), 0, num_features=16, dim=8, redraw_every=1
    )  # a top-level layer's path is empty

    import research.nn.attention as attention_lib

    def by_hand(params, x):  # the einsum layer with its attention replaced by performer.py's
        with monkeypatch.context() as patch:
            patch.setattr(
                attention_lib,
                "dot_product_attention",
                lambda q, k, v, **_: performer_attention(q, k, v, projection, causal=True),
            )
            return MultiHeadAttention(num_heads=4, head_dim=8, num_kv_heads=2).apply(
                {"params": params}, x, causal=True
            )

    def loss(fn):
        def f(params, x):
            out = fn(params, x)
            return jnp.sum(jnp.cos(out)), out

        return jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(variables["params"], x)

    (_, out), grads = loss(lambda p, x: layer.apply({"params": p}, x, causal=True))
    (_, want), want_grads = loss(by_hand)
    np.testing.assert_allclose(out, want, atol=1e-6)
    _assert_trees_close(grads, want_grads, atol=1e-6)
    # Softmax attention is what it estimates: close to the einsum layer, not equal.
    exact = MultiHeadAttention(num_heads=4, head_dim=8, num_kv_heads=2).apply(
        variables, x, causal=True
    )
    assert 0 < np.abs(out - exact).max() < 0.05


def test_performer_with_a_mask_equals_the_prefix_sums_where_both_apply():
    # The masked quadratic form (padding masks, cached decoding) computes the same estimate as
    # the causal scan: with an all-True mask they agree; padded keys then change nothing for the
    # rows that cannot see them, and a fully masked row is zeros, not NaN.
    from research.nn.performer import orthogonal_random_features

    q, k, v = _qkv(56, t=7, s=7, n=2, h=8)
    projection = orthogonal_random_features(jax.random.key(57), 32, 8)
    scan = dot_product_attention(
        q, k, v, causal=True, implementation="performer", projection=projection
    )
    quadratic = dot_product_attention(
        q, k, v, causal=True, mask=jnp.ones((7, 7), bool), implementation="performer",
        projection=projection,
    )  # fmt: skip
    np.testing.assert_allclose(quadratic, scan, rtol=1e-4, atol=1e-5)
    first_keys_hidden = (jnp.arange(7) >= 2)[None, None, None, :]
    masked = dot_product_attention(
        q, k, v, causal=True, mask=first_keys_hidden, implementation="performer",
        projection=projection,
    )  # fmt: skip
    assert np.all(np.asarray(masked[:, :2]) == 0)
    k2 = k.at[:, :2].set(5.0)  # padding content must not matter
    masked2 = dot_product_attention(
        q, k2, v.at[:, :2].set(-3.0), causal=True, mask=first_keys_hidden,
        implementation="performer", projection=projection,
    )  # fmt: skip
    np.testing.assert_allclose(masked2, masked, rtol=1e-4, atol=1e-5)


def test_performer_cached_decoding_equals_the_full_forward():
    layer = _performer_layer(performer_features=16)
    x = jax.random.normal(jax.random.key(58), (2, 8, 8))
    variables = layer.init(jax.random.key(59), x)
    full = layer.apply(variables, x, causal=True)
    y, cache = layer.apply(variables, x[:, :3], causal=True, cache=KVCache.zeros(2, 8, 2, 8))
    outputs = [y]
    for t in range(3, 8):
        y, cache = layer.apply(variables, x[:, t : t + 1], causal=True, cache=cache)
        outputs.append(y)
    np.testing.assert_allclose(jnp.concatenate(outputs, axis=1), full, rtol=1e-4, atol=1e-5)


def test_performer_features_are_redrawn_on_the_step_counter():
    # redraw_every=2: a counter in the 'performer' collection, advanced by each training apply
    # (mutable), read without advancing at evaluation; steps 0-1 share a draw, step 2 has a new one.
    layer = _performer_layer(performer_features=16, performer_redraw_every=2)
    x = jax.random.normal(jax.random.key(60), (1, 6, 8))
    variables = layer.init(jax.random.key(61), x)
    assert int(variables["performer"]["step"]) == 0
    outs = []
    for _ in range(3):
        out, state = layer.apply(variables, x, causal=True, train=True, mutable=["performer"])
        outs.append(out)
        variables = {**variables, **state}
    assert int(variables["performer"]["step"]) == 3
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.allclose(outs[1], outs[2], atol=1e-6)
    evaluated, state = layer.apply(variables, x, causal=True, mutable=["performer"])
    assert int(state["performer"]["step"]) == 3  # evaluation does not advance it
    np.testing.assert_array_equal(evaluated, outs[2])  # step 3: the draw of steps 2-3
    # Without the collection (the decoding protocol): the draw of step 0.
    np.testing.assert_array_equal(
        layer.apply({"params": variables["params"]}, x, causal=True), outs[0]
    )


def test_local_and_performer_settings_are_checked():
    x = jnp.ones((1, 4, 8))
    cases = [
        (dict(implementation="local"), "needs a window"),
        (dict(window=2), "needs a window"),
        (dict(implementation="performer"), "needs the number of random features"),
        (dict(implementation="performer", performer_features=0), "must be an integer >= 1"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            MultiHeadAttention(num_heads=2, head_dim=4, **kw).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="'local' is self-attention"):
        MultiHeadAttention(num_heads=2, head_dim=4, implementation="local", window=2).init(
            jax.random.key(0), x, jnp.ones((1, 3, 8))
        )
    q, k, v = _qkv(62, t=4, s=6)
    with pytest.raises(ValueError, match="keys' length 6 must equal the queries' 4"):
        dot_product_attention(q, k, v, causal=False, implementation="local", window=2)
    with pytest.raises(ValueError, match="takes no additive score bias"):
        dot_product_attention(
            q, k, v, causal=False, bias=jnp.zeros((4, 6)), implementation="performer",
            projection=jnp.ones((4, 8)),
        )  # fmt: skip
