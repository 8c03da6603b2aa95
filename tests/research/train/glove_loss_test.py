"""GloVe's objective: f by hand, the loss's value and gradient against glove.c's per-entry update."""

import jax
import numpy as np
import pytest

from research.models.glove import make
from research.train.glove_loss import glove_loss, weighting


def test_weighting_is_the_papers_f():
    x = np.array([1.0, 50.0, 100.0, 1000.0], np.float32)
    f = np.asarray(weighting(x, 100.0, 0.75))
    np.testing.assert_allclose(f, [10**-1.5, 0.5**0.75, 1.0, 1.0], rtol=1e-6)  # capped at 1


def test_gradient_is_glove_c_update():
    """d(0.5 * sum J)/dW_i = sum over its entries of f (pred - log X) W~_j, likewise for W~, b, b~
    (the per-entry gradient of GloVe's glove.c); a batch adds the entries that share a row."""
    rng = np.random.default_rng(0)
    v, d = 5, 3
    params = {
        "word": {"embedding": rng.normal(size=(v, d)).astype(np.float32)},
        "context": {"embedding": rng.normal(size=(v, d)).astype(np.float32)},
        "word_bias": rng.normal(size=v).astype(np.float32),
        "context_bias": rng.normal(size=v).astype(np.float32),
    }
    rows = np.array([0, 2, 2, 4], np.int32)
    cols = np.array([1, 1, 3, 0], np.int32)
    counts = np.array([3.0, 0.5, 250.0, 12.0], np.float32)
    model = make(vocab_size=v, embed_dim=d, vocab_pad_multiple=1)

    def objective(p):
        pred = model.apply({"params": p}, rows, cols)
        return glove_loss(pred, counts, 100.0, 0.75)[0]

    grads = jax.grad(objective)(params)
    w, c = params["word"]["embedding"], params["context"]["embedding"]
    want = {"w": np.zeros((v, d)), "c": np.zeros((v, d)), "b": np.zeros(v), "bc": np.zeros(v)}
    for i, j, x in zip(rows, cols, counts, strict=True):
        diff = w[i] @ c[j] + params["word_bias"][i] + params["context_bias"][j] - np.log(x)
        fdiff = min(1.0, (x / 100.0) ** 0.75) * diff
        want["w"][i] += fdiff * c[j]
        want["c"][j] += fdiff * w[i]
        want["b"][i] += fdiff
        want["bc"][j] += fdiff
    np.testing.assert_allclose(grads["word"]["embedding"], want["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["context"]["embedding"], want["c"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["word_bias"], want["b"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["context_bias"], want["bc"], rtol=1e-5, atol=1e-6)


def test_glove_loss_is_half_the_sum_and_reports_the_mean_per_entry():
    pred = np.array([0.7, 1.5], np.float32)
    counts = np.array([1.0, 100.0], np.float32)
    total, metrics = glove_loss(pred, counts, 100.0, 0.75)
    want = 0.5 * (10**-1.5 * 0.7**2 + (1.5 - np.log(100.0)) ** 2)  # f(1) = 0.01^0.75, f(100) = 1
    assert float(total) == pytest.approx(want, rel=1e-6)
    assert float(metrics["loss"][0]) == pytest.approx(want, rel=1e-6)
    assert float(metrics["loss"][1]) == 2.0  # the loop divides: the mean per nonzero
    # x_max and alpha are the loss's own: halving x_max doubles^0.75 the weight of X=1.
    small, _ = glove_loss(pred[:1], counts[:1], 50.0, 0.75)
    assert float(small) == pytest.approx(0.5 * 0.02**0.75 * 0.7**2, rel=1e-6)
