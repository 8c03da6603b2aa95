"""Tests for research/nn/positional.py: the sinusoidal table by hand, rotary by hand (the sign of
the angle), its relative-position property and Hugging Face Llama's layout, T5's buckets by hand and against Hugging Face's T5."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.positional import (
    RelativePositionBias,
    apply_rotary,
    relative_position_bucket,
    sinusoidal_table,
)
from tests.reference_packages import import_reference


def test_sinusoidal_table_by_hand():
    table = np.asarray(sinusoidal_table(3, 4))
    # Column pairs (0, 1) and (2, 3) have inverse frequencies 1 and 10000^(-2/4) = 1/100.
    want = np.array(
        [
            [0.0, 1.0, 0.0, 1.0],
            [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)],
            [np.sin(2), np.cos(2), np.sin(0.02), np.cos(0.02)],
        ]
    )
    np.testing.assert_allclose(table, want, atol=1e-7)


def test_sinusoidal_shift_is_a_fixed_rotation():
    # The property the paper chose it for: PE[p + k] is a linear function of PE[p] (a rotation of
    # each sine/cosine pair by k times its frequency), the same for every p.
    table = np.asarray(sinusoidal_table(64, 8), np.float64)
    k = 5
    shift, *_ = np.linalg.lstsq(table[:-k], table[k:], rcond=None)
    np.testing.assert_allclose(table[:-k] @ shift, table[k:], atol=1e-5)


def test_sinusoidal_odd_width_is_refused():
    with pytest.raises(ValueError, match="even width, got features=5"):
        sinusoidal_table(4, 5)


def _qk(seed=0, shape=(1, 1, 1, 8)):
    kq, kk = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kq, shape), jax.random.normal(kk, shape)


@pytest.mark.parametrize("interleaved", [False, True])
def test_rotary_scores_depend_on_the_distance_only(interleaved):
    q, k = _qk()

    def score(m, n):
        qm = apply_rotary(q, jnp.array([m]), interleaved=interleaved)
        kn = apply_rotary(k, jnp.array([n]), interleaved=interleaved)
        return float(jnp.sum(qm * kn))

    assert score(7, 3) == pytest.approx(score(107, 103), abs=1e-4)
    assert score(7, 3) == pytest.approx(score(4, 0), abs=1e-5)
    assert score(7, 3) != pytest.approx(score(3, 7), abs=1e-3)  # direction matters


def test_rotary_keeps_norms_and_position_zero_is_the_identity():
    x = jax.random.normal(jax.random.key(1), (2, 5, 3, 8))
    rotated = apply_rotary(x, jnp.arange(5))
    np.testing.assert_allclose(
        jnp.linalg.norm(rotated, axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-6
    )
    np.testing.assert_array_equal(rotated[:, 0], x[:, 0])


def test_rotary_interleaved_is_the_half_layout_with_permuted_columns():
    x = jax.random.normal(jax.random.key(2), (1, 4, 2, 8))
    half_order = np.concatenate([np.arange(0, 8, 2), np.arange(1, 8, 2)])  # (0,2,4,6,1,3,5,7)
    interleaved = apply_rotary(x, jnp.arange(4), interleaved=True)
    half = apply_rotary(x[..., half_order], jnp.arange(4))
    np.testing.assert_allclose(interleaved[..., half_order], half, atol=1e-6)


def test_rotary_equals_hugging_face_llama():
    torch = import_reference("torch")
    llama = import_reference("transformers.models.llama.modeling_llama")
    batch, length, heads, head_dim, base = 2, 6, 3, 8, 10_000.0
    x = np.asarray(jax.random.normal(jax.random.key(3), (batch, length, heads, head_dim)))
    positions = np.array([[0, 1, 2, 3, 4, 5], [7, 8, 9, 10, 11, 12]])
    # Llama's rotary embedding: angles repeated over both halves of the head, cos/sin [B, T, H].
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    freqs = torch.tensor(positions, dtype=torch.float32)[..., None] * inv_freq
    emb = torch.cat([freqs, freqs], dim=-1)
    xt = torch.tensor(x).transpose(1, 2)  # HF keeps heads before length: [B, N, T, H]
    want, _ = llama.apply_rotary_pos_emb(xt, xt, emb.cos(), emb.sin())
    got = apply_rotary(jnp.asarray(x), jnp.asarray(positions))
    np.testing.assert_allclose(np.asarray(got), want.transpose(1, 2).numpy(), atol=2e-6)


def test_rotary_by_hand():
    # RoPE rotates each pair (a, b) by +theta = position * base^(-2i/H), counter-clockwise:
    # (a cos - b sin, b cos + a sin). Catches a rotation by -theta, which keeps norms and the
    # distance-only property above. H = 2: (1, 0) at position 1 -> (cos 1, sin 1).
    two = apply_rotary(jnp.array([1.0, 0.0]).reshape(1, 1, 1, 2), jnp.array([1]))
    np.testing.assert_allclose(two.reshape(2), [np.cos(1.0), np.sin(1.0)], rtol=1e-6)
    # H = 4, half layout: pairs (x0, x2) at angle 2 * 10000^0 = 2 and (x1, x3) at angle
    # 2 * 10000^(-2/4) = 0.02.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    got = apply_rotary(jnp.asarray(x).reshape(1, 1, 1, 4), jnp.array([2])).reshape(4)
    c1, s1, c2, s2 = np.cos(2.0), np.sin(2.0), np.cos(0.02), np.sin(0.02)
    want = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # Interleaved: pairs (x0, x1) at angle 2 and (x2, x3) at 0.02.
    got = apply_rotary(jnp.asarray(x).reshape(1, 1, 1, 4), jnp.array([2]), interleaved=True)
    want = [1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2]
    np.testing.assert_allclose(got.reshape(4), want, rtol=1e-5)


def test_rotary_checks_its_inputs():
    with pytest.raises(ValueError, match=r"expects x \[B, T, N, H\]"):
        apply_rotary(jnp.zeros((4, 8)), jnp.arange(4))
    with pytest.raises(ValueError, match="even head dim, got head_dim=7"):
        apply_rotary(jnp.zeros((1, 4, 1, 7)), jnp.arange(4))


def test_relative_position_buckets_by_hand():
    # Bidirectional, 32 buckets: 16 per direction, 8 exact distances, then log-spaced to 128.
    relative = jnp.array([0, -1, -7, -8, -12, -200, 1, 7, 200])
    got = relative_position_bucket(relative, bidirectional=True, num_buckets=32, max_distance=128)
    # -12: 8 + int(log(12/8) / log(128/8) * 8) = 8 + int(1.169) = 9; +1 is bucket 16 + 1.
    assert got.tolist() == [0, 1, 7, 8, 9, 15, 17, 23, 31]
    # Causal: keys after the query share bucket 0; 16 exact distances, log-spaced to 128.
    relative = jnp.array([5, 0, -3, -15, -16, -1000])
    got = relative_position_bucket(relative, bidirectional=False, num_buckets=32, max_distance=128)
    assert got.tolist() == [0, 0, 3, 15, 16, 31]


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_buckets_equal_hugging_face_t5(bidirectional):
    torch = import_reference("torch")
    t5 = import_reference("transformers.models.t5.modeling_t5")
    relative = np.arange(-400, 401)
    want = t5.T5Attention._relative_position_bucket(
        torch.tensor(relative), bidirectional=bidirectional, num_buckets=32, max_distance=128
    )
    got = relative_position_bucket(jnp.asarray(relative), bidirectional=bidirectional)
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


def test_relative_position_bias_reads_its_table_by_bucket():
    module = RelativePositionBias(num_heads=2, bidirectional=True, num_buckets=8, max_distance=16)
    params = nn.unbox(module.init(jax.random.key(0), 5, 7)["params"])
    table = np.asarray(params["rel_embedding"])
    assert table.shape == (8, 2)
    bias = np.asarray(module.apply({"params": params}, 5, 7))
    assert bias.shape == (1, 2, 5, 7)
    buckets = np.asarray(
        relative_position_bucket(
            np.arange(7)[None, :] - np.arange(5)[:, None],
            bidirectional=True,
            num_buckets=8,
            max_distance=16,
        )
    )
    for head in range(2):
        np.testing.assert_array_equal(bias[0, head], table[buckets, head])


def test_relative_position_bias_offset_matches_the_full_rows():
    # Decoding one query at position 4 with 5 keys reads the last row of the full 5 x 5 bias.
    module = RelativePositionBias(num_heads=3, bidirectional=False)
    params = module.init(jax.random.key(0), 5, 5)["params"]
    full = module.apply({"params": params}, 5, 5)
    step = module.apply({"params": params}, 1, 5, query_offset=4)
    np.testing.assert_array_equal(step[:, :, 0], full[:, :, 4])
