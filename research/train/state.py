"""The train state: everything a step changes, as one pytree (and so one checkpoint item).

`model_state` holds the model's Flax collections other than 'params' (for example
`{'batch_stats': ...}` of batch normalization, EMA weights, quantization calibration); it is `{}`
for a stateless model. Being part of the state, it is checkpointed, restored and sharded like the
parameters: logical-axis boxes on its leaves are honoured, unboxed leaves are replicated.

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
    model_state: dict  # collection name -> variables, e.g. {'batch_stats': {...}}; {} if stateless
    opt_state: optax.OptState

    @classmethod
    def create(
        cls, params, tx: optax.GradientTransformation, model_state: dict | None = None
    ) -> "TrainState":
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state={} if model_state is None else dict(model_state),
            opt_state=tx.init(params),
        )
