"""Tests for research/models/transformer_lm.py: parameter count, causality, dropout, remat,
attention paths, make() errors and FLOPs. The golden logical axes, make() and dtype live in
tests/research/models/contract_test.py.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import transformer_lm as lm

TINY_PARAMS = 3_307_008


def _small(**overrides):
    """A 2-layer model that keeps these tests fast; 'tiny' itself is checked for its count."""
    values = dict(num_layers=2, embed_dim=32, num_heads=4, mlp_dim=64, max_len=16)
    return lm.make("tiny", **{**values, **overrides})


def _tokens(seed, batch=2, length=16, vocab=257):
    return jax.random.randint(jax.random.key(seed), (batch, length), 0, vocab, jnp.int32)


def _init(model, length=16):
    init = jax.jit(model.init)  # jitted: eager op-by-op Flax is slow on a small CPU
    return init(jax.random.key(0), jnp.zeros((1, length), jnp.int32))["params"]


def _apply(model):
    return jax.jit(model.apply, static_argnames="train")


def test_tiny_param_count():
    model = lm.make("tiny")
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8), jnp.int32))
    count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nn.unbox(shapes)))
    # 320*256 (257 padded to a multiple of 64) + 256*256 embeddings, 4 blocks of 789,760, ln_f 512.
    assert count == TINY_PARAMS == lm.num_params(model.config)


def test_logits_shape_dtype_and_whole_model_causality():
    model = _small()
    params = _init(model)
    tokens = _tokens(1)
    logits = _apply(model)({"params": params}, tokens)
    assert logits.shape == (2, 16, 257) and logits.dtype == jnp.float32
    cut = 9
    changed = tokens.at[:, cut:].set(_tokens(2)[:, cut:])
    logits_changed = _apply(model)({"params": params}, changed)
    np.testing.assert_allclose(logits[:, :cut], logits_changed[:, :cut], atol=1e-6)
    assert not np.allclose(logits[:, cut:], logits_changed[:, cut:])


def test_dropout_off_is_deterministic_and_on_uses_rng():
    model = _small(dropout_rate=0.1)
    params = _init(model)
    tokens = _tokens(3)
    forward = _apply(model)
    eval_a = forward({"params": params}, tokens)
    eval_b = forward({"params": params}, tokens, train=False)
    np.testing.assert_array_equal(eval_a, eval_b)
    train_a = forward({"params": params}, tokens, train=True, rngs={"dropout": jax.random.key(1)})
    train_b = forward({"params": params}, tokens, train=True, rngs={"dropout": jax.random.key(1)})
    train_c = forward({"params": params}, tokens, train=True, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_array_equal(train_a, train_b)
    assert not np.allclose(train_a, train_c)
    # With rate 0, train mode needs no rng and equals eval.
    no_dropout = _small()
    np.testing.assert_array_equal(
        _apply(no_dropout)({"params": params}, tokens, train=True), eval_a
    )


def test_remat_and_xla_attention_compute_the_same_function():
    params = _init(_small())
    tokens = _tokens(4)

    def loss(model, p):
        return jnp.mean(model.apply({"params": p}, tokens) ** 2)

    def value_and_grad(model):
        return jax.jit(jax.value_and_grad(lambda p: loss(model, p)))(params)

    ref_loss, ref_grads = value_and_grad(_small())
    for overrides in (dict(remat=True), dict(attention_impl="xla")):
        value, grads = value_and_grad(_small(**overrides))
        np.testing.assert_allclose(value, ref_loss, rtol=1e-6)
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_bfloat16_compute_keeps_float32_params_and_logits():
    model = _small(dtype="bfloat16")
    params = _init(model)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nn.unbox(params)))
    logits = _apply(model)({"params": params}, _tokens(5))
    assert logits.dtype == jnp.float32
    reference = _apply(_small())({"params": params}, _tokens(5))
    # Observed 2.5e-3 on logits of magnitude ~0.6: bfloat16 matmuls with float32 softmax, norms
    # and logits. A bfloat16 softmax or norm would exceed the bound; an unused dtype gives ~0.
    error = np.abs(np.asarray(logits) - np.asarray(reference)).max()
    assert 1e-4 < error < 1e-2, error


def test_init_scales_residual_projections():
    params = nn.unbox(_init(lm.make("tiny", max_len=16)))
    block = params["block_0"]
    np.testing.assert_allclose(np.std(block["attn"]["query"]["kernel"]), 0.02, rtol=0.05)
    residual_std = 0.02 / np.sqrt(2 * 4)
    np.testing.assert_allclose(np.std(block["attn"]["out"]["kernel"]), residual_std, rtol=0.05)
    np.testing.assert_allclose(np.std(block["mlp"]["wo"]["kernel"]), residual_std, rtol=0.05)
    assert np.all(block["mlp"]["wo"]["bias"] == 0) and np.all(block["ln1"]["scale"] == 1)


def test_make_errors_name_the_problem():
    with pytest.raises(ValueError, match="'huge'.*gpt2_small.*tiny"):
        lm.make("huge")
    with pytest.raises(ValueError, match="num_layer'.*num_layers"):
        lm.make("tiny", num_layer=2)
    with pytest.raises(ValueError, match="divisible"):
        lm.make("tiny", num_heads=3)
    config = lm.make("gpt2_small", vocab_size=50304).config
    assert (config.num_layers, config.embed_dim, config.vocab_size) == (12, 768, 50304)


def test_bad_inputs_raise_value_errors_that_survive_python_O():
    model = _small()
    params = _init(model)
    with pytest.raises(ValueError, match="sequence length 17 exceeds max_len=16"):
        model.apply({"params": params}, jnp.zeros((1, 17), jnp.int32))
    with pytest.raises(ValueError, match="max_len=16"):  # also at trace time, under jit
        _apply(model)({"params": params}, jnp.zeros((1, 17), jnp.int32))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 257\), got ids in \[0, 257\]"):
        model.apply({"params": params}, jnp.array([[0, 257]], jnp.int32))
    with pytest.raises(ValueError, match=r"int32\[B,T\]"):
        model.apply({"params": params}, jnp.zeros((4,), jnp.int32))


def test_out_of_range_ids_under_jit_give_nan_logits_for_their_sequence():
    # 257..319 are the embedding table's padding rows: without the check they would read
    # zero-initialized rows and give finite, wrong logits.
    model = _small()
    params = _init(model)
    for bad in (257, 300, -1):
        tokens = _tokens(6).at[1, 5].set(bad)
        logits = _apply(model)({"params": params}, tokens)
        assert np.isfinite(logits[0]).all()  # the other sequence is untouched
        # NaN from position 5 on through attention, and before it too: a masked NaN value still
        # enters the probability-weighted sum as 0 * NaN.
        assert np.isnan(logits[1]).all(), bad


def test_cached_decoding_equals_the_full_forward_token_by_token():
    model = _small(dropout_rate=0.1)  # dropout is off outside training, with or without a cache
    params = _init(model)
    tokens = _tokens(7)
    full = _apply(model)({"params": params}, tokens)
    step = jax.jit(lambda p, t, c: model.apply({"params": p}, t, cache=c))
    cache = model.init_cache(2, 16)
    logits, cache = step(params, tokens[:, :6], cache)  # prefill
    pieces = [logits]
    for t in range(6, 16):
        logits, cache = step(params, tokens[:, t : t + 1], cache)
        pieces.append(logits)
    np.testing.assert_allclose(jnp.concatenate(pieces, axis=1), full, atol=2e-6)
    assert {name: int(cache[name].index) for name in ("block_0", "block_1")} == {
        "block_0": 16,
        "block_1": 16,
    }
    np.testing.assert_array_equal(cache["position"], [16, 16])
    assert np.all(cache["key_valid"])


def test_rope_cached_decoding_equals_the_full_forward_and_drops_the_position_table():
    # position_embedding='rope': no pos_embed table, q and k rotated in every block. A left-padded
    # prefill then cached steps equal each row's full forward alone. Catches cached keys rotated
    # by their slot instead of their position, queries rotated at position 0 in every step, or
    # rotary positions that count the padding.
    model = _small(position_embedding="rope")
    params = _init(model)
    assert "pos_embed" not in params
    assert lm.num_params(model.config) == sum(x.size for x in jax.tree.leaves(nn.unbox(params)))
    tokens = _tokens(10, length=10)
    mask = np.ones((2, 6), bool)
    mask[1, :4] = False  # row 1: a 2-token prompt behind 4 pads
    step = jax.jit(lambda p, t, c, m: model.apply({"params": p}, t, cache=c, mask=m))
    logits, cache = step(params, tokens[:, :6], model.init_cache(2, 10), mask)
    pieces = [logits[:, -1:]]
    for t in range(6, 10):
        logits, cache = step(params, tokens[:, t : t + 1], cache, np.ones((2, 1), bool))
        pieces.append(logits)
    cached = jnp.concatenate(pieces, axis=1)  # [2, 5, V]: predictions after slots 5..9
    for row in range(2):
        real = np.concatenate([np.asarray(tokens[row, :6])[mask[row]], tokens[row, 6:]])
        alone = _apply(model)({"params": params}, jnp.asarray(real)[None])
        np.testing.assert_allclose(cached[row], alone[0, -5:], atol=2e-6)
    # The rotation is there: a learned-table model with the same other weights differs.
    learned = _small()
    with_table = {**params, "pos_embed": {"embedding": jnp.zeros((16, 32))}}
    assert np.abs(_apply(learned)({"params": with_table}, tokens) - _apply(model)(
        {"params": params}, tokens)).max() > 1e-4  # fmt: skip


def test_padding_mask_gives_each_row_its_unpadded_logits():
    # Left padding (row 0: 5 pads) and padding in the middle (row 1): at every real position
    # the logits equal those of the row's real tokens alone. Without positions from the mask the
    # left-padded row is shifted by 5 positions; without the key mask it attends to the pads.
    model = _small()
    params = _init(model)
    tokens = _tokens(8, length=12)
    mask = np.ones((2, 12), bool)
    mask[0, :5] = False
    mask[1, 3:6] = False
    logits = jax.jit(lambda p, t, m: model.apply({"params": p}, t, mask=m))(params, tokens, mask)
    for row in range(2):
        alone = _apply(model)({"params": params}, tokens[row : row + 1, mask[row]])
        np.testing.assert_allclose(logits[row, mask[row]], alone[0], atol=2e-6)
    # Padding tokens are not looked at: other ids there change no real position's logits.
    other = jnp.where(mask, tokens, 99)
    logits_other = model.apply({"params": params}, other, mask=mask)
    np.testing.assert_allclose(logits_other[mask], logits[mask], atol=1e-6)


def test_left_padded_prefill_then_cached_steps_equal_each_row_alone():
    model = _small()
    params = _init(model)
    tokens = _tokens(9, length=10)
    mask = np.ones((2, 6), bool)
    mask[1, :4] = False  # row 1: a 2-token prompt behind 4 pads
    step = jax.jit(lambda p, t, c, m: model.apply({"params": p}, t, cache=c, mask=m))
    cache = model.init_cache(2, 10)
    logits, cache = step(params, tokens[:, :6], cache, mask)
    pieces = [logits[:, -1:]]
    for t in range(6, 10):
        logits, cache = step(params, tokens[:, t : t + 1], cache, np.ones((2, 1), bool))
        pieces.append(logits)
    cached = jnp.concatenate(pieces, axis=1)  # [2, 5, V]: predictions after slots 5..9
    np.testing.assert_array_equal(cache["position"], [10, 6])
    np.testing.assert_array_equal(cache["key_valid"][1], [0, 0, 0, 0] + [1] * 6)
    for row in range(2):
        real = np.concatenate([np.asarray(tokens[row, :6])[mask[row]], tokens[row, 6:]])
        alone = _apply(model)({"params": params}, jnp.asarray(real)[None])
        np.testing.assert_allclose(cached[row], alone[0, -5:], atol=2e-6)


def test_cache_longer_than_the_position_table_is_refused():
    with pytest.raises(ValueError, match="cannot decode 17 positions.*max_len=16"):
        _small().init_cache(1, 17)


def test_flops_per_token():
    config = lm.make("gpt2_small").config
    n = lm.num_params(config) - config.max_len * config.embed_dim
    # GPT-2 small has 124,439,808 parameters; its 50257-row embedding is padded to 50304 here.
    assert n == 124_439_808 + 47 * 768 - 1024 * 768
    assert lm.flops_per_token(config, 1024) == 6 * n + 12 * 12 * 768 * 1024
