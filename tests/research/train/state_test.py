"""Tests for research/train/state.py: a fresh state and its life as a pytree."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.train.state import TrainState


def test_create_starts_at_step_zero_with_the_optimizer_initialized():
    params = {"w": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    tx = optax.adam(0.1)
    state = TrainState.create(params, tx)
    assert state.step.shape == () and state.step.dtype == jnp.int32 and int(state.step) == 0
    assert state.params is params
    assert state.model_state == {}  # a stateless model's
    want = tx.init(params)
    assert jax.tree.structure(state.opt_state) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(state.opt_state), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_state_is_kept_beside_the_params_and_left_out_of_the_optimizer():
    params = {"w": jnp.arange(3.0)}
    model_state = {"batch_stats": {"mean": jnp.ones(3)}}
    state = TrainState.create(params, optax.adam(0.1), model_state=model_state)
    assert state.model_state == model_state
    # Adam's moments mirror the params only: batch statistics are not trained by gradients.
    assert jax.tree.structure(state.opt_state) == jax.tree.structure(optax.adam(0.1).init(params))
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert ".model_state['batch_stats']['mean']" in paths  # checkpointed with the state


def test_is_a_pytree_that_jit_can_carry():
    state = TrainState.create({"w": jnp.ones(2)}, optax.sgd(0.5))
    leaves = jax.tree.leaves(state)
    assert len(leaves) == 2  # step and w; sgd without momentum has no arrays

    @jax.jit
    def bump(s):
        return s.replace(step=s.step + 1, params={"w": s.params["w"] * 2})

    new = bump(bump(state))
    assert int(new.step) == 2
    np.testing.assert_array_equal(new.params["w"], [4.0, 4.0])
    assert int(state.step) == 0  # replace returns a new state
