"""Tests for research/train/losses.py: (sum, weight) pairs against hand values and scikit-learn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import log_loss

from research.train import losses
from research.train.losses import accuracy, softmax_cross_entropy, squared_error


def test_cross_entropy_hand_values():
    # p = softmax(log [1, 3]) = [1/4, 3/4]; softmax(0, 0, 0) = 1/3 each.
    logits = jnp.array([[np.log(1.0), np.log(3.0), -np.inf], [0.0, 0.0, 0.0]])
    total, count = softmax_cross_entropy(logits, jnp.array([1, 2]))
    assert float(count) == 2.0
    assert float(total) == pytest.approx(np.log(4 / 3) + np.log(3.0), rel=1e-6)


def test_cross_entropy_matches_sklearn_log_loss_with_weights():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 7)).astype(np.float32) * 3
    targets = rng.integers(0, 7, size=(2, 5))
    weights = rng.uniform(size=(2, 5)).astype(np.float32)
    weights[0, :2] = 0.0  # padding rows count for nothing
    total, count = softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(targets), weights)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    want = log_loss(
        targets.ravel(), probs.reshape(-1, 7), sample_weight=weights.ravel(), labels=range(7)
    )
    assert float(count) == pytest.approx(weights.sum(), rel=1e-6)
    assert float(total) / float(count) == pytest.approx(want, rel=1e-5)
    nll = -np.log(probs[np.arange(2)[:, None], np.arange(5)[None, :], targets])
    assert float(total) == pytest.approx(float(np.sum(nll * weights)), rel=1e-5)


def test_cross_entropy_computes_bfloat16_logits_in_float32():
    rng = np.random.default_rng(1)
    logits = jnp.asarray(rng.normal(size=(4, 300)) * 10, jnp.bfloat16)
    targets = jnp.asarray(rng.integers(0, 300, size=4))
    total, count = softmax_cross_entropy(logits, targets)
    assert total.dtype == jnp.float32 and count.dtype == jnp.float32
    exact, _ = softmax_cross_entropy(logits.astype(jnp.float32), targets)
    assert float(total) == float(exact)  # same float32 arithmetic, not bfloat16 arithmetic
    in_bf16 = jnp.sum(
        jnp.log(jnp.sum(jnp.exp(logits), -1))
        - jnp.take_along_axis(logits, targets[:, None], -1)[:, 0]
    )
    assert float(in_bf16) != float(total)  # bfloat16 would have given another number


def test_cross_entropy_value_and_gradient_equal_the_gather_form_and_ids_index_like_it():
    rng = np.random.default_rng(2)
    logits = jnp.asarray(rng.normal(size=(3, 5, 33)) * 4, jnp.float32)
    targets = jnp.asarray(rng.integers(0, 33, size=(3, 5)))

    def gathered(logits):  # the textbook form: logsumexp minus the gathered target logit
        picked = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
        return jnp.sum(jax.nn.logsumexp(logits, axis=-1) - picked)

    ours = lambda logits: softmax_cross_entropy(logits, targets)[0]
    assert float(ours(logits)) == pytest.approx(float(gathered(logits)), rel=1e-6)
    np.testing.assert_allclose(
        jax.grad(ours)(logits), jax.grad(gathered)(logits), rtol=1e-5, atol=1e-6
    )
    # Weighted: the gradient scales each row by its weight.
    weights = jnp.asarray(rng.uniform(size=(3, 5)), jnp.float32)
    np.testing.assert_allclose(
        jax.grad(lambda x: softmax_cross_entropy(x, targets, weights)[0])(logits),
        jax.grad(ours)(logits) * weights[..., None],
        rtol=1e-6,
        atol=1e-7,
    )
    # -1 is the last class (as a gather indexes); ids past the vocabulary give NaN.
    small = jnp.log(jnp.array([[1.0, 1.0, 2.0]]))
    nll = [float(softmax_cross_entropy(small, jnp.array([t]))[0]) for t in (-1, 2, 3)]
    assert nll[0] == nll[1] == pytest.approx(np.log(2.0), rel=1e-6)
    assert np.isnan(nll[2])


def test_the_accelerator_path_equals_the_cpu_path_in_value_and_gradient():
    # softmax_cross_entropy runs _nll_autodiff on the CPU and the custom-VJP _nll elsewhere; CI
    # has no GPU, so _nll is checked here directly, -inf logits and an all -inf row included.
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(4, 6, 40)).astype(np.float32) * 5
    logits[0, 0, 3] = -np.inf
    logits[1, 2, :] = -np.inf
    logits = jnp.asarray(logits)
    targets = jnp.asarray(rng.integers(0, 40, size=(4, 6)))
    g = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
    finite = jnp.ones((4, 6), bool).at[1, 2].set(False)

    def loss(fn):
        return lambda x: jnp.sum(jnp.where(finite, fn(x, targets), 0.0) * g)

    ours, cpu = losses._nll(logits, targets), losses._nll_autodiff(logits, targets)
    np.testing.assert_allclose(ours[finite], cpu[finite], rtol=1e-6, atol=1e-6)
    assert np.isnan(ours[1, 2]) and np.isnan(cpu[1, 2])  # -inf - -inf, both ways
    np.testing.assert_allclose(
        jax.grad(loss(losses._nll))(logits),
        jax.grad(loss(losses._nll_autodiff))(logits),
        rtol=1e-5,
        atol=1e-7,
    )


def test_the_accelerator_path_partitions_over_a_vocabulary_sharded_mesh():
    # Under tensor parallelism the logits arrive sharded on the vocabulary: the variadic reduction
    # must be split into per-shard sums and combined (XLA's SPMD partitioner, the same on every
    # backend). Values and gradients on 8 devices (batch 4 x vocab 2) equal the single-device ones.
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(np.array(jax.devices()[:8]).reshape(4, 2), ("data", "tensor"))
    rng = np.random.default_rng(6)
    logits = jnp.asarray(rng.normal(size=(8, 5, 64)) * 3, jnp.float32)
    targets = jnp.asarray(rng.integers(0, 64, size=(8, 5)))

    def value_and_grad(logits, targets):
        return jax.value_and_grad(lambda x: jnp.sum(losses._nll(x, targets)))(logits)

    want = jax.jit(value_and_grad)(logits, targets)
    sharded = jax.jit(
        value_and_grad,
        in_shardings=(
            NamedSharding(mesh, P("data", None, "tensor")),
            NamedSharding(mesh, P("data")),
        ),
    )(logits, targets)
    np.testing.assert_allclose(sharded[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(sharded[1], want[1], rtol=1e-6, atol=1e-7)
    assert sharded[1].sharding.spec == P("data", None, "tensor")


def test_accuracy_counts_weighted_hits():
    logits = jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    targets = jnp.array([1, 1, 1, 0])  # hits: yes, no, yes, yes
    total, count = accuracy(logits, targets)
    assert (float(total), float(count)) == (3.0, 4.0)
    total, count = accuracy(logits, targets, jnp.array([1.0, 1.0, 0.0, 0.5]))
    assert (float(total), float(count)) == (1.5, 2.5)


def test_squared_error_sums_features_per_example():
    predictions = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    targets = jnp.array([[0.0, 0.0], [1.0, 1.0]])  # per example: 1 + 4 = 5, 4 + 9 = 13
    assert tuple(map(float, squared_error(predictions, targets))) == (18.0, 2.0)
    weighted = squared_error(predictions, targets, jnp.array([1.0, 0.5]))
    assert tuple(map(float, weighted)) == (11.5, 1.5)
    cube = jnp.arange(8.0).reshape(2, 2, 2)  # [B, ...] with more than one feature axis
    total, count = squared_error(cube, jnp.zeros_like(cube))
    assert (float(total), float(count)) == (float(np.sum(np.arange(8.0) ** 2)), 2.0)
