"""Negative draws follow the table; the loss and the averaged rows' gradient equal hand values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.embeddings import negative_sampling as ns


def test_negatives_follow_the_unigram_table():
    """Catches ids shifted by one, or a draw that ignores the table (a word of probability 0)."""
    table = jnp.array([0.5, 0.5, 0.75, 1.0], jnp.float32)  # word 1 has probability 0
    ids = ns.sample_negatives(jax.random.key(0), table, (200_000,))
    assert ids.dtype == jnp.int32 and ids.shape == (200_000,)
    freq = np.bincount(np.asarray(ids), minlength=4) / 200_000
    np.testing.assert_allclose(freq, [0.5, 0.0, 0.25, 0.25], atol=0.005)  # sd 0.001


def _log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def test_loss_by_hand():
    positive = jnp.array([2.0, -1.0])
    negative = jnp.array([[1.0, -3.0], [0.5, 4.0]])
    mask = jnp.array([[1.0, 1.0], [1.0, 0.0]])  # the second row's second negative is skipped
    loss = ns.negative_sampling_loss(positive, negative, mask)
    want = [
        -(_log_sigmoid(2.0) + _log_sigmoid(-1.0) + _log_sigmoid(3.0)),
        -(_log_sigmoid(-1.0) + _log_sigmoid(-0.5)),
    ]
    np.testing.assert_allclose(loss, want, rtol=1e-6)


def test_loss_gradient_is_words2vecs_update():
    """d loss / d (u . h) is sigmoid(x) - label: word2vec.c's g = (label - f) with the sign of a
    gradient (SGD subtracts it)."""
    positive, negative = jnp.array([0.3]), jnp.array([[-0.2, 0.7]])
    grads = jax.grad(lambda p, n: ns.negative_sampling_loss(p, n, jnp.ones((1, 2))).sum(), (0, 1))(
        positive, negative
    )
    np.testing.assert_allclose(grads[0], jax.nn.sigmoid(0.3) - 1.0, rtol=1e-6)
    np.testing.assert_allclose(grads[1], jax.nn.sigmoid(negative), rtol=1e-6)


def test_average_rows_is_the_mean_and_passes_the_whole_error_to_each_row():
    """Catches the autodiff gradient of a mean (divided by the count), which word2vec.c, fastText
    and gensim do not apply."""
    rows = jnp.array([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])  # [1, 3, 2]
    mask = jnp.array([[1.0, 1.0, 0.0]])
    np.testing.assert_allclose(ns.average_rows(rows, mask), [[2.0, 3.0]])
    weights = jnp.array([[5.0, -1.0]])
    grad = jax.grad(lambda r: jnp.sum(ns.average_rows(r, mask) * weights))(rows)
    np.testing.assert_allclose(grad, [[[5.0, -1.0], [5.0, -1.0], [0.0, 0.0]]])


@pytest.mark.parametrize("mask", [[[0.0, 0.0]]])
def test_average_rows_of_nothing_is_zero(mask):
    out = ns.average_rows(jnp.ones((1, 2, 3)), jnp.array(mask))
    np.testing.assert_array_equal(out, np.zeros((1, 3)))
