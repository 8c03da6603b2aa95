"""Tests for research/train/step.py: one update by hand, the per-step RNG, skipping bad updates."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.train.state import TrainState
from research.train.step import make_eval_step, make_train_step

SEED = 42


def loss_fn(params, model_state, batch, rng, train):
    """Quadratic loss; the metrics expose the rng and the train flag the step passed in.

    Model state (when there is one): 'seen' counts the calls, 'last_x' keeps the last batch's x.
    """
    residual = params["w"] * batch["x"] - batch["y"]
    loss = jnp.sum(residual**2) * batch["scale"]
    one = jnp.ones((), jnp.float32)
    metrics = {
        "loss": (loss, one),
        "draw": (jax.random.uniform(rng), one),
        "train": (jnp.asarray(train, jnp.float32), one),
    }
    if model_state:
        stats = model_state["stats"]
        model_state = {"stats": {"seen": stats["seen"] + 1, "last_x": batch["x"] * 1.0}}
    return loss, metrics, model_state


def _batch(scale=1.0):
    return {"x": jnp.array([1.0, 2.0]), "y": jnp.array([0.0, 1.0]), "scale": jnp.asarray(scale)}


def _state(tx, model_state=None):
    return TrainState.create({"w": jnp.array([1.0, -1.0])}, tx, model_state=model_state)


def _stats(seen=0, last_x=(0.0, 0.0)):
    return {"stats": {"seen": jnp.asarray(seen, jnp.int32), "last_x": jnp.array(last_x)}}


def test_one_step_is_plain_gradient_descent_by_hand():
    tx = optax.sgd(0.1)
    step = jax.jit(make_train_step(loss_fn, tx, SEED, skip_nonfinite=False))
    new, metrics = step(_state(tx), _batch())
    # residual = [1*1 - 0, -1*2 - 1] = [1, -3]; loss = 10; grad = 2 * residual * x = [2, -12]
    np.testing.assert_allclose(new.params["w"], [1.0 - 0.2, -1.0 + 1.2], rtol=1e-6)
    assert int(new.step) == 1
    assert float(metrics["loss"][0]) == 10.0
    assert float(metrics["grad_norm"][0]) == np.float32(np.hypot(2.0, 12.0))
    assert float(metrics["finite"][0]) == 1.0 and float(metrics["finite"][1]) == 1.0
    assert float(metrics["train"][0]) == 1.0


def test_rng_is_fold_in_of_the_seed_and_the_step():
    tx = optax.sgd(0.0)
    step = jax.jit(make_train_step(loss_fn, tx, SEED, skip_nonfinite=False))
    state, draws = _state(tx), []
    for _ in range(3):
        state, metrics = step(state, _batch())
        draws.append(float(metrics["draw"][0]))
    want = [
        float(jax.random.uniform(jax.random.fold_in(jax.random.key(SEED), s))) for s in range(3)
    ]
    assert draws == want
    assert len(set(draws)) == 3
    # A state restored at step 2 draws what the uninterrupted run drew at step 2.
    restored = _state(tx).replace(step=jnp.asarray(2, jnp.int32))
    assert float(step(restored, _batch())[1]["draw"][0]) == want[2]


def test_nonfinite_loss_is_skipped_when_asked():
    tx = optax.adam(0.1)
    state, _ = jax.jit(make_train_step(loss_fn, tx, SEED, False))(_state(tx), _batch())
    step = jax.jit(make_train_step(loss_fn, tx, SEED, skip_nonfinite=True))
    new, metrics = step(state, _batch(scale=jnp.nan))
    assert float(metrics["finite"][0]) == 0.0
    assert int(new.step) == 2  # the counter moves on, so the next step draws fresh data and rng
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(new.opt_state), jax.tree.leaves(state.opt_state), strict=True):
        np.testing.assert_array_equal(a, b)  # moments and Adam's count too
    good, _ = step(state, _batch())
    assert not np.array_equal(good.params["w"], state.params["w"])  # finite steps still apply


def test_the_model_state_the_loss_returns_is_kept():
    tx = optax.sgd(0.1)
    step = jax.jit(make_train_step(loss_fn, tx, SEED, skip_nonfinite=False))
    new, _ = step(_state(tx, _stats()), _batch())
    assert int(new.model_state["stats"]["seen"]) == 1  # a step that dropped it would leave 0
    np.testing.assert_array_equal(new.model_state["stats"]["last_x"], [1.0, 2.0])
    assert int(step(new, _batch())[0].model_state["stats"]["seen"]) == 2


def test_nonfinite_step_keeps_the_old_model_state_when_skipping():
    tx = optax.adam(0.1)
    step = jax.jit(make_train_step(loss_fn, tx, SEED, skip_nonfinite=True))
    state, _ = step(_state(tx, _stats()), _batch())
    nan_batch = {**_batch(scale=jnp.nan), "x": jnp.array([5.0, 6.0])}
    new, metrics = step(state, nan_batch)
    assert float(metrics["finite"][0]) == 0.0
    assert int(new.model_state["stats"]["seen"]) == 1  # not 2: the skipped step changed nothing
    np.testing.assert_array_equal(new.model_state["stats"]["last_x"], [1.0, 2.0])  # not [5, 6]


def test_a_loss_that_drops_a_collection_is_refused_with_one_sentence():
    tx = optax.sgd(0.1)

    def forgetful(params, model_state, batch, rng, train):
        loss, metrics, _ = loss_fn(params, model_state, batch, rng, train)
        return loss, metrics, {}

    step = jax.jit(make_train_step(forgetful, tx, SEED, skip_nonfinite=False))
    with pytest.raises(ValueError, match=r"^loss_fn returned a model state with collections \[\]"):
        step(_state(tx, _stats()), _batch())


def test_nonfinite_loss_is_applied_when_not_skipping():
    tx = optax.adam(0.1)
    step = jax.jit(make_train_step(loss_fn, tx, SEED, skip_nonfinite=False))
    new, metrics = step(_state(tx), _batch(scale=jnp.inf))
    assert float(metrics["finite"][0]) == 0.0
    assert np.all(np.isnan(new.params["w"]))  # the loop stops the run on this flag


def test_eval_step_uses_train_false_and_a_fixed_key():
    tx = optax.sgd(0.1)
    params = _state(tx).params
    metrics = jax.jit(make_eval_step(loss_fn))(params, {}, _batch())
    assert float(metrics["train"][0]) == 0.0
    assert float(metrics["loss"][0]) == 10.0
    assert float(metrics["draw"][0]) == float(jax.random.uniform(jax.random.key(0)))
    assert set(metrics) == {"loss", "draw", "train"}  # no gradient metrics in evaluation
