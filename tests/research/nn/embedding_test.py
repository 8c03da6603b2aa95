"""Tests for research/nn/embedding.py: lookup rows, tied-output logits and logical axes."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.embedding import Embed, logits_matmul


def _table(v=5, d=3):
    return np.arange(v * d, dtype=np.float32).reshape(v, d) / 10


def test_lookup_returns_rows():
    table = _table()
    ids = jnp.array([[4, 0, 2]])
    out = Embed(5, 3).apply({"params": {"embedding": table}}, ids)
    np.testing.assert_array_equal(out, table[[[4, 0, 2]]])


def test_attend_is_matmul_with_transpose_in_float32():
    table = _table()
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    out = Embed(5, 3).apply({"params": {"embedding": table}}, x, method="attend")
    np.testing.assert_allclose(out, x @ table.T, rtol=1e-6)
    out_bf16 = Embed(5, 3, dtype=jnp.bfloat16).apply(
        {"params": {"embedding": table}}, x, method="attend"
    )
    assert out_bf16.dtype == jnp.float32
    np.testing.assert_allclose(out_bf16, x @ table.T, rtol=2e-2)


def test_attend_backward_multiplies_in_the_compute_dtype():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(2, 4, 8)), jnp.float32)
    table = jnp.asarray(rng.normal(size=(16, 8)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(2, 4, 16)), jnp.float32)  # the logits' cotangent

    def grads(dtype, fn):
        _, vjp = jax.vjp(fn, x.astype(dtype), table.astype(dtype))
        return vjp(g)

    def plain(x, table):  # autodiff of the forward einsum
        return jnp.einsum("...D,VD->...V", x, table, preferred_element_type=jnp.float32)

    # float32: the custom backward is autodiff's.
    for ours, want in zip(
        grads(jnp.float32, logits_matmul), grads(jnp.float32, plain), strict=True
    ):
        np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-6)
    # bfloat16: the float32 cotangent is rounded to bfloat16 before both matmuls.
    g16 = g.astype(jnp.bfloat16).astype(jnp.float32)
    x16, t16 = (a.astype(jnp.bfloat16).astype(jnp.float32) for a in (x, table))
    dx, dtable = grads(jnp.bfloat16, logits_matmul)
    assert dx.dtype == dtable.dtype == jnp.bfloat16
    np.testing.assert_array_equal(dx, jnp.einsum("btv,vd->btd", g16, t16).astype(jnp.bfloat16))
    want_dtable = jnp.einsum("btv,btd->vd", g16, x16).astype(jnp.bfloat16)
    np.testing.assert_allclose(
        dtable.astype(jnp.float32), want_dtable.astype(jnp.float32), rtol=1e-2
    )
    # Autodiff would have multiplied the unrounded float32 cotangent: another answer.
    assert not np.array_equal(dx, grads(jnp.bfloat16, plain)[0])


def test_logical_axes_and_init_scale():
    variables = Embed(1000, 64).init(jax.random.key(0), jnp.zeros((1,), jnp.int32))
    assert tuple(nn.get_partition_spec(variables)["params"]["embedding"]) == ("vocab", "embed")
    std = float(jnp.std(nn.unbox(variables)["params"]["embedding"]))
    assert abs(std - 0.02) < 1e-3
    positions = Embed(16, 8, axes=(None, "embed")).init(jax.random.key(0), jnp.arange(4))
    assert tuple(nn.get_partition_spec(positions)["params"]["embedding"]) == (None, "embed")


def test_float_ids_raise():
    with pytest.raises(ValueError, match="integer ids"):
        Embed(5, 3).apply({"params": {"embedding": _table()}}, jnp.zeros((2,)))


def test_token_id_checks_and_nan_for_what_cannot_be_checked():
    from research.nn.embedding import check_token_ids, nan_where_invalid

    check_token_ids(jnp.array([[0, 4]]), 5)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\), got ids in \[-1, 4\]"):
        check_token_ids(jnp.array([[-1, 4]]), 5)
    with pytest.raises(ValueError, match="integer ids, got dtype float32"):
        jax.jit(lambda t: check_token_ids(t, 5))(jnp.zeros((2,), jnp.float32))
    x = jnp.ones((1, 4, 3))
    out = nan_where_invalid(x, jnp.array([[0, 5, 4, -1]]), 5)
    np.testing.assert_array_equal(np.isnan(out).all(-1), [[False, True, False, True]])
    np.testing.assert_array_equal(out[0, 0], x[0, 0])
