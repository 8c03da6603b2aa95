"""The pure train and eval step functions that the loop jits with shardings.

`train_step(state, batch) -> (state, metrics)`: one optimizer update. The step's RNG is
`fold_in(key(seed), state.step)`. `metrics` maps names to `(total, count)` pairs and always includes
'loss', 'grad_norm' and 'finite' (1.0 when loss and gradients are finite).

With `skip_nonfinite=True`, a step whose loss or gradients are not finite leaves params and optimizer
state unchanged (the step counter still advances, so the next step draws fresh data and RNG).
"""

import jax
import jax.numpy as jnp
import optax

from research.train.state import TrainState
from research.train.task import LossFn


def make_train_step(loss_fn: LossFn, tx: optax.GradientTransformation, seed: int, skip_nonfinite):
    def train_step(state: TrainState, batch):
        rng = jax.random.fold_in(jax.random.key(seed), state.step)
        grad_fn = jax.value_and_grad(lambda p: loss_fn(p, batch, rng, True), has_aux=True)
        (loss, metrics), grads = grad_fn(state.params)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if skip_nonfinite:
            keep_old = lambda new, old: jnp.where(finite, new, old)
            params = jax.tree.map(keep_old, params, state.params)
            opt_state = jax.tree.map(keep_old, opt_state, state.opt_state)
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        one = jnp.ones((), jnp.float32)
        metrics = {
            **metrics,
            "grad_norm": (grad_norm, one),
            "finite": (finite.astype(jnp.float32), one),
        }
        return new_state, metrics

    return train_step


def make_eval_step(loss_fn: LossFn):
    def eval_step(params, batch):
        _, metrics = loss_fn(params, batch, jax.random.key(0), False)
        return metrics

    return eval_step
