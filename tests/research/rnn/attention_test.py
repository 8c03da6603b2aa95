"""Tests for research/rnn/attention.py: scores against numpy formulas on hand-built parameters,
exact zeros on padded source positions, vectorized queries, and the Linen holder."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.rnn import attention

B, S, Q, K, A = 3, 5, 4, 6, 7


def _inputs(seed=0, key_size=K):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(B, Q)).astype(np.float32)
    memory = rng.normal(size=(B, S, key_size)).astype(np.float32)
    params = {
        "w_key": rng.normal(size=(key_size, A)).astype(np.float32),
        "w_query": rng.normal(size=(Q, A)).astype(np.float32),
        "v": rng.normal(size=(A,)).astype(np.float32),
        "kernel": rng.normal(size=(Q, key_size)).astype(np.float32),
    }
    return query, memory, params


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_additive_scores_are_v_tanh_w1_m_plus_w2_q():
    query, memory, p = _inputs()
    want = np.empty((B, S))
    for b in range(B):
        for s in range(S):
            want[b, s] = p["v"] @ np.tanh(memory[b, s] @ p["w_key"] + query[b] @ p["w_query"])
    got = attention.additive_scores(query, memory, p)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # observed ~1e-6


def test_dot_scores_are_q_dot_m():
    query, memory, _ = _inputs(key_size=Q)
    want = np.einsum("bq,bsq->bs", query, memory)
    np.testing.assert_allclose(attention.dot_scores(query, memory), want, rtol=1e-5, atol=1e-5)


def test_general_scores_are_q_w_m():
    query, memory, p = _inputs()
    want = np.array([[query[b] @ p["kernel"] @ memory[b, s] for s in range(S)] for b in range(B)])
    got = attention.general_scores(query, memory, p)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", attention.KINDS)
def test_attend_is_softmax_weighted_memory(kind):
    query, memory, p = _inputs(key_size=Q if kind == "dot" else K)
    keys = attention.prepare(kind, p, memory)
    context, weights = attention.attend(kind, p, query, keys, memory)
    want_w = _softmax(np.asarray(attention.scores(kind, p, query, keys), np.float64))
    np.testing.assert_allclose(weights, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, np.einsum("bs,bsk->bk", want_w, memory), atol=1e-5)


@pytest.mark.parametrize("kind", attention.KINDS)
def test_padded_positions_get_zero_weight_and_do_not_change_the_context(kind):
    """Catches attention leaking onto padding: garbage past each length must not matter."""
    query, memory, p = _inputs(key_size=Q if kind == "dot" else K)
    lengths = np.array([5, 2, 1])
    mask = np.arange(S)[None, :] < lengths[:, None]
    garbage = np.where(mask[..., None], memory, 1e3).astype(np.float32)  # huge scores if seen
    context, weights = attention.attend(
        kind, p, query, attention.prepare(kind, p, garbage), garbage, mask
    )
    weights = np.asarray(weights)
    assert np.all(weights[~mask] == 0.0)  # exactly zero, not merely small
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    for b, n in enumerate(lengths):  # the same as attending over the real positions only
        m = memory[b : b + 1, :n]
        c, w = attention.attend(kind, p, query[b : b + 1], attention.prepare(kind, p, m), m)
        np.testing.assert_allclose(context[b], c[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(weights[b, :n], w[0], rtol=1e-5, atol=1e-7)


def test_a_row_without_real_positions_attends_to_nothing_instead_of_nan():
    # The project's convention (research.nn.reference_attention): weights and context exactly 0
    # and no gradient through the row; catches a uniform row (the mean of the memory) or NaN.
    query, memory, p = _inputs()
    mask = np.arange(S)[None, :] < np.array([0, 3, S])[:, None]  # row 0 has no real position
    keys = attention.prepare("additive", p, memory)
    context, weights = attention.attend("additive", p, query, keys, memory, mask)
    assert np.all(np.asarray(weights[0]) == 0) and np.all(np.asarray(context[0]) == 0)
    for b, n in ((1, 3), (2, S)):  # the other rows: as if the padding were not there
        m = memory[b : b + 1, :n]
        c, w = attention.attend("additive", p, query[b : b + 1], keys[b : b + 1, :n], m)
        np.testing.assert_allclose(context[b], c[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(weights[b, :n], w[0], rtol=1e-5, atol=1e-7)
    grad = jax.grad(
        lambda q, m: jnp.sum(attention.attend("additive", p, q, keys, m, mask)[0] ** 2),
        argnums=(0, 1),
    )(query, memory)
    assert np.all(np.asarray(grad[0][0]) == 0) and np.all(np.asarray(grad[1][0]) == 0)
    # Exact values of the masked softmax: [1, 3] real -> softmax([1, 3]); nothing real -> zeros.
    got = attention.masked_softmax(
        jnp.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]), jnp.array([[1, 0, 1], [0, 0, 0]], bool)
    )
    e2 = np.exp(2.0)
    np.testing.assert_allclose(got, [[1 / (1 + e2), 0, e2 / (1 + e2)], [0, 0, 0]], rtol=1e-6)


@pytest.mark.parametrize("kind", attention.KINDS)
def test_many_queries_at_once_equal_one_query_at_a_time(kind):
    rng = np.random.default_rng(1)
    _, memory, p = _inputs(key_size=Q if kind == "dot" else K)
    queries = rng.normal(size=(B, 3, Q)).astype(np.float32)
    mask = np.arange(S)[None, :] < np.array([5, 3, 2])[:, None]
    keys = attention.prepare(kind, p, memory)
    context, weights = attention.attend(kind, p, queries, keys, memory, mask)
    assert context.shape == (B, 3, memory.shape[-1]) and weights.shape == (B, 3, S)
    for t in range(3):
        c, w = attention.attend(kind, p, queries[:, t], keys, memory, mask)
        np.testing.assert_allclose(context[:, t], c, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(weights[:, t], w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kind, names",
    [("additive", {"w_key": (K, A), "w_query": (Q, A), "v": (A,)}),
     ("general", {"kernel": (Q, K)}), ("dot", {})],
)  # fmt: skip
def test_module_holds_the_named_params_and_applies_the_pure_functions(kind, names):
    query, memory, _ = _inputs(key_size=Q if kind == "dot" else K)
    if kind == "dot":
        names = {}
    module = attention.Attention(kind, attention_dim=A)
    variables = module.init(jax.random.key(0), query, memory)
    params = nn.unbox(variables.get("params", {}))
    assert {k: v.shape for k, v in params.items()} == names
    mask = np.arange(S)[None, :] < np.array([5, 3, 2])[:, None]
    got = module.apply(variables, query, memory, mask)
    want = attention.attend(
        kind, params, query, attention.prepare(kind, params, memory), memory, mask
    )
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_errors_name_the_fix():
    query, memory, p = _inputs()
    with pytest.raises(ValueError, match="Unknown attention 'luong'; choose one of additive"):
        attention.scores("luong", p, query, memory)
    with pytest.raises(ValueError, match="dot attention needs query size == key size, got 4 and 6"):
        attention.dot_scores(query, memory)
    with pytest.raises(ValueError, match="additive attention needs attention_dim >= 1"):
        attention.Attention("additive").init(jax.random.key(0), query, memory)
    with pytest.raises(ValueError, match=r"query \[B,Q\] or \[B,T,Q\]"):
        attention.dot_scores(query[0], memory)
