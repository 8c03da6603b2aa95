"""The pure train and eval step functions that the loop jits with shardings.

`train_step(state, batch) -> (state, metrics)`: one optimizer update. The step's RNG is
`fold_in(key(seed), state.step)`. The loss is `loss_fn(params, model_state, batch, rng, True)`
(see `task.LossFn`); the model state it returns becomes `state.model_state`. `metrics` maps names to
`(total, count)` pairs and always includes 'loss', 'grad_norm' and 'finite' (1.0 when loss and
gradients are finite).

With `skip_nonfinite=True`, a step whose loss or gradients are not finite leaves params, model state
and optimizer state unchanged (the step counter still advances, so the next step draws fresh data
and RNG).

`eval_step(params, model_state, batch) -> metrics` calls the loss with `train=False` and a fixed key
and ignores the model state it returns.
"""

import jax
import jax.numpy as jnp
import optax

from research.train.state import TrainState
from research.train.task import LossFn


def _check_model_state(new, old) -> None:
    """Refuses (at trace time) a returned model state whose structure or shapes differ."""
    new_shapes = jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), new)
    old_shapes = jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), old)
    if jax.tree.structure(new) != jax.tree.structure(old) or new_shapes != old_shapes:
        raise ValueError(
            f"loss_fn returned a model state with collections {sorted(new)} and structure "
            f"{jax.tree.structure(new)}, but the train state holds {sorted(old)} with "
            f"{jax.tree.structure(old)}; return every collection of `model_state`, for example "
            "the state `model.apply(..., mutable=list(model_state))` gives back, or `model_state` "
            "itself for a stateless model."
        )


def make_train_step(loss_fn: LossFn, tx: optax.GradientTransformation, seed: int, skip_nonfinite):
    def train_step(state: TrainState, batch):
        rng = jax.random.fold_in(jax.random.key(seed), state.step)

        def loss_and_aux(params):
            loss, metrics, model_state = loss_fn(params, state.model_state, batch, rng, True)
            return loss, (metrics, model_state)

        grad_fn = jax.value_and_grad(loss_and_aux, has_aux=True)
        (loss, (metrics, model_state)), grads = grad_fn(state.params)
        model_state = dict(model_state)
        _check_model_state(model_state, state.model_state)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if skip_nonfinite:
            keep_old = lambda new, old: jnp.where(finite, new, old)
            params = jax.tree.map(keep_old, params, state.params)
            model_state = jax.tree.map(keep_old, model_state, state.model_state)
            opt_state = jax.tree.map(keep_old, opt_state, state.opt_state)
        new_state = state.replace(
            step=state.step + 1, params=params, model_state=model_state, opt_state=opt_state
        )
        one = jnp.ones((), jnp.float32)
        metrics = {
            **metrics,
            "grad_norm": (grad_norm, one),
            "finite": (finite.astype(jnp.float32), one),
        }
        return new_state, metrics

    return train_step


def make_multi_step(train_step, num_steps: int):
    """`num_steps` consecutive train steps in one call, as a `lax.scan` over stacked batches:
    `multi_step(state, batches) -> (state, metrics)`, batch leaves [num_steps, B, ...], metric pairs
    [num_steps] each. The same updates as `num_steps` calls of `train_step` (each step's RNG still
    comes from `state.step`), without the host's per-call work in between: for models whose step
    takes about as long as the loop's dispatch, metrics and data handling (word2vec, GloVe)."""

    def multi_step(state, batches):
        return jax.lax.scan(train_step, state, batches, length=num_steps)

    return multi_step


def make_eval_step(loss_fn: LossFn):
    def eval_step(params, model_state, batch):
        _, metrics, _ = loss_fn(params, model_state, batch, jax.random.key(0), False)
        return metrics

    return eval_step
