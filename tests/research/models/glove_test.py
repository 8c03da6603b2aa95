"""Tests for research/models/glove.py: hand-worked predictions, init, axes, errors (the objective's own
tests: tests/research/train/glove_loss_test.py)."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import glove
from research.models.glove import Config, make
from research.train.glove_loss import weighted_squared_error

# Hand tables: V = 2 words, D = 2.
W = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
W_TILDE = np.array([[0.5, 0.5], [1.0, -1.0]], np.float32)
B = np.array([0.1, 0.2], np.float32)
B_TILDE = np.array([0.3, -0.4], np.float32)
PARAMS = {
    "word": {"embedding": W},
    "context": {"embedding": W_TILDE},
    "word_bias": B,
    "context_bias": B_TILDE,
}


def test_make_presets_and_overrides():
    assert make().config == Config()
    for name, fields in glove.VARIANTS.items():
        assert make(name).config == Config(**fields)
    assert make("tiny", embed_dim=3).config.embed_dim == 3
    with pytest.raises(ValueError, match=r"Unknown glove variant 'huge'; choose one of \["):
        make("huge")
    with pytest.raises(ValueError, match=r"Config field\(s\) \['dim'\]; valid fields are"):
        make(dim=3)


def test_predictions_and_loss_on_hand_tables_exact():
    model = make(vocab_size=2, embed_dim=2, vocab_pad_multiple=1)
    rows = np.array([0, 1, 1], np.int32)
    cols = np.array([1, 0, 1], np.int32)
    counts = np.array([1.0, 100.0, 1000.0], np.float32)
    pred = np.asarray(model.apply({"params": PARAMS}, rows, cols))
    # (0,1): 1*1 + 0*(-1) + 0.1 - 0.4 = 0.7; (1,0): 0*0.5 + 2*0.5 + 0.2 + 0.3 = 1.5;
    # (1,1): 0*1 + 2*(-1) + 0.2 - 0.4 = -2.2.
    np.testing.assert_allclose(pred, [0.7, 1.5, -2.2], rtol=1e-6)
    loss = np.asarray(weighted_squared_error(pred, counts, 100.0, 0.75))
    expected = [
        10**-1.5 * 0.7**2,  # log 1 = 0, f(1) = (1/100)^0.75
        (1.5 - math.log(100.0)) ** 2,  # f(100) = 1
        (-2.2 - math.log(1000.0)) ** 2,  # f(1000) = 1 (capped)
    ]
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_init_is_uniform_within_half_over_d_and_vectors_are_w_plus_w_tilde():
    model = make(vocab_size=300, embed_dim=4, vocab_pad_multiple=64)
    ids = np.zeros(1, np.int32)
    params = nn.unbox(model.init({"params": jax.random.key(0)}, ids, ids)["params"])
    shapes = jax.tree.map(lambda a: a.shape, params)
    assert shapes == {  # 300 rounded up to 320 rows
        "word": {"embedding": (320, 4)},
        "context": {"embedding": (320, 4)},
        "word_bias": (320,),
        "context_bias": (320,),
    }
    for leaf in jax.tree.leaves(params):
        leaf = np.asarray(leaf)
        assert np.abs(leaf).max() <= 0.125  # 0.5 / D
        assert np.abs(leaf).max() > 0.11  # spread over the whole range, not a narrow normal
    assert not np.array_equal(params["word"]["embedding"], params["context"]["embedding"])
    np.testing.assert_array_equal(
        glove.word_vectors(params, 300),
        (params["word"]["embedding"] + params["context"]["embedding"])[:300],
    )
    np.testing.assert_array_equal(glove.word_vectors(PARAMS), W + W_TILDE)


def test_padding_rows_get_no_gradient():
    """Bug caught: a pair reading a padding row (V..V'-1), which would train rows no word owns."""
    model = make(vocab_size=5, embed_dim=3, vocab_pad_multiple=8)
    ids = np.arange(5, dtype=np.int32)
    params = nn.unbox(model.init({"params": jax.random.key(1)}, ids, ids[::-1])["params"])
    counts = np.full(5, 2.0, np.float32)

    def objective(p):
        pred = model.apply({"params": p}, ids, ids[::-1])
        return weighted_squared_error(pred, counts, 100.0, 0.75).sum()

    grads = jax.grad(objective)(params)
    for leaf in jax.tree.leaves(grads):
        assert leaf.shape[0] == 8
        assert np.all(np.asarray(leaf)[5:] == 0) and np.any(np.asarray(leaf)[:5] != 0)


def test_bad_input_is_one_sentence():
    model = make(vocab_size=2, embed_dim=2, vocab_pad_multiple=1)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 2\)"):
        model.apply({"params": PARAMS}, np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"rows and cols must be \[B\] id arrays of one shape"):
        model.apply({"params": PARAMS}, np.array([0, 1]), np.array([0]))
    ids = jnp.zeros(1, jnp.int32)
    with pytest.raises(ValueError, match=r"GloVe needs vocab_size, embed_dim and vocab_pad_mul"):
        make(vocab_size=2, embed_dim=0).init({"params": jax.random.key(0)}, ids, ids)
