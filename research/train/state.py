"""The train state: everything a step changes, as one pytree (and so one checkpoint item).

There is no RNG in the state: the step's key is `jax.random.fold_in(key(seed), step)`, so resuming
from a checkpoint at step s draws exactly the keys an uninterrupted run draws.
"""

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: number of optimizer updates applied so far
    params: dict
    opt_state: optax.OptState

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
