"""Tests for research/models/rnn_lm.py: parameter count, causality, cached decoding, greedy
sampling, dropout, bad inputs, make() errors and FLOPs. The golden logical axes, make() and
dtype live in tests/research/models/contract_test.py.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.sampling import sample
from research.models import rnn_lm as lm

TINY_PARAMS = 1_134_592


def _small(**overrides):
    """2 layers, hidden 32 != embed 16: the tied output goes through the `proj` layer."""
    values = dict(num_layers=2, embed_dim=16, hidden_dim=32)
    return lm.make("tiny", **{**values, **overrides})


def _tokens(seed, batch=2, length=12, vocab=257):
    return jax.random.randint(jax.random.key(seed), (batch, length), 0, vocab, jnp.int32)


def _init(model, length=12):
    init = jax.jit(model.init)  # jitted: eager op-by-op Flax is slow on a small CPU
    return init(jax.random.key(0), jnp.zeros((1, length), jnp.int32))["params"]


def _apply(model):
    return jax.jit(model.apply, static_argnames="train")


def _count(model):
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nn.unbox(shapes)))


@pytest.mark.parametrize(
    "model",
    [
        lm.make("tiny"),  # tied, hidden == embed: no projection
        lm.make("zaremba_small"),  # untied output layer with bias
        _small(),  # tied through `proj`
        _small(cell="gru", num_layers=3),
        _small(cell="elman_relu", num_layers=1),
    ],
    ids=["tiny", "zaremba_small", "projected", "gru", "elman"],
)
def test_num_params_is_exact(model):
    # Catches num_params forgetting the projection, the untied bias, a layer's input width
    # (D for layer 0, H above) or the gate count of a cell kind.
    assert _count(model) == lm.num_params(model.config)


def test_tiny_param_count():
    # 320 x 256 (257 padded to a multiple of 64) + 2 LSTM layers of 2 x 256 x 4 x 256 + 2 x 4 x 256.
    assert lm.num_params(lm.make("tiny").config) == TINY_PARAMS == 81_920 + 2 * 526_336


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman_tanh"])
def test_cached_decoding_equals_the_full_forward_token_by_token(cell):
    # Catches a cache that is not carried over (each call restarting from zeros), carries of the
    # wrong layer, or a cache returned before the last token.
    model = _small(cell=cell, dropout_rate=0.1)  # dropout is off outside training
    params = _init(model)
    tokens = _tokens(7)
    full = _apply(model)({"params": params}, tokens)
    step = jax.jit(lambda p, t, c: model.apply({"params": p}, t, cache=c))
    cache = model.init_cache(2, 12)
    logits, cache = step(params, tokens[:, :5], cache)  # prefill
    pieces = [logits]
    for t in range(5, 12):
        logits, cache = step(params, tokens[:, t : t + 1], cache)
        pieces.append(logits)
    # Observed exactly 0 on CPU (the same ops per step); 1e-6 leaves room for other backends.
    np.testing.assert_allclose(jnp.concatenate(pieces, axis=1), full, atol=1e-6)
    assert jax.tree.structure(cache) == jax.tree.structure(model.init_cache(2, 12))


def test_logits_shape_dtype_and_causality():
    # Catches a bidirectional or otherwise future-reading stack.
    model = _small()
    params = _init(model)
    tokens = _tokens(1)
    logits = _apply(model)({"params": params}, tokens)
    assert logits.shape == (2, 12, 257) and logits.dtype == jnp.float32
    cut = 7
    changed = tokens.at[:, cut:].set(_tokens(2)[:, cut:])
    logits_changed = _apply(model)({"params": params}, changed)
    np.testing.assert_array_equal(logits[:, :cut], logits_changed[:, :cut])
    assert not np.allclose(logits[:, cut:], logits_changed[:, cut:])


def test_greedy_sample_equals_argmax_of_the_full_forward():
    # Catches a decoding protocol that disagrees with training-time forward passes (e.g. a
    # cache that re-reads the prompt, or logits of the wrong position fed back).
    model = _small()
    params = _init(model)
    prompt = np.array([[72, 101, 108], [84, 104, 101]], np.int32)
    out = sample(model, params, prompt, num_tokens=6, rng=jax.random.key(0), temperature=0)
    forward = _apply(model)
    expected = prompt
    for _ in range(6):
        logits = forward({"params": params}, jnp.asarray(expected))
        expected = np.concatenate([expected, np.argmax(logits[:, -1:], axis=-1)], axis=1)
    np.testing.assert_array_equal(out, expected)


def test_decoding_is_not_limited_in_length():
    model = _small()
    assert not hasattr(model.config, "max_len")
    (h, c), _ = model.init_cache(3, 10**6)  # no position table, no buffer: O(1) in the length
    assert h.shape == c.shape == (3, 32)


def test_dropout_only_in_training():
    # Catches dropout left on at evaluation, or one that ignores its rng.
    model = _small(dropout_rate=0.3)
    params = _init(model)
    tokens = _tokens(3)
    forward = _apply(model)
    eval_a = forward({"params": params}, tokens)
    np.testing.assert_array_equal(eval_a, forward({"params": params}, tokens, train=False))
    train = lambda seed: forward(
        {"params": params}, tokens, train=True, rngs={"dropout": jax.random.key(seed)}
    )
    np.testing.assert_array_equal(train(1), train(1))
    assert not np.allclose(train(1), train(2))
    assert not np.allclose(train(1), eval_a)
    # With rate 0, train mode needs no rng and equals eval.
    np.testing.assert_array_equal(_apply(_small())({"params": params}, tokens, train=True), eval_a)


def test_bad_inputs_raise_value_errors():
    model = _small()
    params = _init(model)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 257\), got ids in \[0, 257\]"):
        model.apply({"params": params}, jnp.array([[0, 257]], jnp.int32))
    with pytest.raises(ValueError, match=r"int32\[B,T\]"):
        model.apply({"params": params}, jnp.zeros((4,), jnp.int32))
    with pytest.raises(ValueError, match=r"int32\[B,T\]"):  # at trace time too, under jit
        _apply(model)({"params": params}, jnp.zeros((4,), jnp.int32))
    with pytest.raises(ValueError, match="integer ids"):
        _apply(model)({"params": params}, jnp.zeros((1, 4), jnp.float32))
    with pytest.raises(ValueError, match="cache has 1 entries; expected one carry per layer, 2"):
        model.apply({"params": params}, _tokens(0), cache=model.init_cache(2, 12)[:1])


def test_out_of_range_ids_under_jit_give_nan_logits_from_their_position_on():
    # 257..319 are the embedding table's padding rows: without the mask they would read
    # initialized rows and give finite, wrong logits.
    model = _small()
    params = _init(model)
    for bad in (257, 300, -1):
        tokens = _tokens(6).at[1, 5].set(bad)
        logits = _apply(model)({"params": params}, tokens)
        assert np.isfinite(logits[0]).all() and np.isfinite(logits[1, :5]).all()
        assert np.isnan(logits[1, 5:]).all(), bad


def test_embedding_init_is_uniform_in_the_configured_range():
    # Catches the GPT-2 normal(0.02) init creeping back: with it the main job's LSTM sat at the
    # unigram loss for 100+ steps (see Config.embed_init_scale).
    table = np.asarray(nn.unbox(_init(_small()))["embed"]["embedding"])  # [320,16]
    assert np.abs(table).max() <= 1.0
    np.testing.assert_allclose(table.std(), 1 / np.sqrt(3), rtol=0.05)  # std of U(-1, 1)
    zaremba = lm.make("zaremba_small", vocab_size=64, embed_dim=8, hidden_dim=8)
    assert np.abs(nn.unbox(_init(zaremba))["embed"]["embedding"]).max() <= 0.1


def test_make_errors_name_the_problem():
    with pytest.raises(ValueError, match="'huge'.*tiny.*zaremba"):
        lm.make("huge")
    with pytest.raises(ValueError, match="hidden'.*hidden_dim"):
        lm.make("tiny", hidden=2)
    with pytest.raises(ValueError, match="Unknown cell 'lstn'.*lstm"):
        lm.make("tiny", cell="lstn")
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        lm.make("tiny", num_layers=0)


def test_flops_per_token_counts_the_matmul_parameters():
    tied = lm.make("tiny").config
    assert lm.flops_per_token(tied, 128) == 6 * TINY_PARAMS  # the table is the output layer
    untied = lm.make("zaremba_small").config
    embedding = untied.padded_vocab_size * untied.embed_dim  # a lookup, no matmul
    assert lm.flops_per_token(untied, 35) == 6 * (lm.num_params(untied) - embedding)
