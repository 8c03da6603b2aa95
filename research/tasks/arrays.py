"""The Task of an experiment whose examples are in-memory arrays (the array pipeline's one caller).

    task = array_task(model, loss_fn, train, held_out, batch_size=..., eval_batch_size=..., seed=...)

Training batches come from `research.data.array_pipeline.train_iterator` (shuffled per epoch from
`seed`, checkpointable, each process taking its rows of the global batch); evaluation covers
`held_out` once in padded batches whose padding rows carry weight 0 (the loss must honour
`batch['weights']`).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import numpy as np

from research.data import array_pipeline
from research.train.task import LossFn, Task


def array_task(
    model: nn.Module,
    loss_fn: LossFn,
    train: Mapping[str, np.ndarray],
    held_out: Mapping[str, np.ndarray] | None = None,
    *,
    batch_size: int,
    seed: int,
    eval_batch_size: int | None = None,
    init_inputs: Sequence[Any] | None = None,
    **task_fields,
) -> Task:
    """A `Task` training on `train` and evaluating on `held_out` (None: no evaluation).

    Shapes: train / held_out {key: [N, ...]} with one N per dict; batches are {key: [b, ...]}
    (eval batches add 'weights' [b]). init_inputs: the example inputs for `model.init` (default:
    the first row of every train array, in key order). eval_batch_size: default batch_size.
    task_fields: any other `Task` field (items_per_example, items_name, after_training, ...).
    """
    train = {key: np.asarray(value) for key, value in train.items()}
    if init_inputs is None:
        init_inputs = tuple(value[:1] for value in train.values())
    eval_batches = None
    if held_out is not None:
        batches = array_pipeline.eval_batches(
            dict(held_out), batch_size=eval_batch_size or batch_size
        )
        eval_batches = lambda: batches  # noqa: E731  (built once, iterated at every evaluation)

    def train_iterator(process_index: int, process_count: int):
        return array_pipeline.train_iterator(
            train,
            global_batch_size=batch_size,
            seed=seed,
            process_index=process_index,
            process_count=process_count,
        )

    return Task(
        model=model,
        init_inputs=tuple(init_inputs),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        eval_batches=eval_batches,
        **task_fields,
    )
