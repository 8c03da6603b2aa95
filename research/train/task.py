"""The contract between an experiment and the training loop.

An experiment builds a `Task` (a model, a loss, its data) and calls `research.train.loop.train`.
Everything else (mesh, sharded init, jitted step, evaluation, checkpoint and resume, preemption,
metrics and progress) is the loop's job.

Metrics are `(total, count)` pairs (see `research.train.losses`): the loop averages them exactly over
log intervals and evaluation sets.
"""

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import flax.linen as nn
import jax

Batch = Mapping[str, Any]  # name -> array [B, ...]; every leaf's leading axis is the batch
MetricPairs = Mapping[str, tuple[jax.Array, jax.Array]]


class LossFn(Protocol):
    def __call__(
        self, params, batch: Batch, rng: jax.Array, train: bool
    ) -> tuple[jax.Array, MetricPairs]:
        """Returns the scalar to minimise and metric pairs (must include 'loss')."""


class CheckpointableIterator(Iterator, Protocol):
    """A data iterator whose position can be saved and restored (grain's `DatasetIterator` is one)."""

    def get_state(self) -> dict: ...

    def set_state(self, state: dict) -> None: ...


@dataclasses.dataclass(frozen=True)
class Task:
    """What an experiment supplies.

    model: a Linen module; `model.init({'params': rng}, *init_inputs)` creates its parameters.
    init_inputs: example inputs for `init` (shapes matter, values do not).
    loss_fn: `(params, batch, rng, train) -> (loss, metric pairs)`; jitted by the loop.
    train_iterator: `(process_index, process_count) -> iterator` of this process's rows of each
      global batch (numpy), checkpointable, infinite.
    eval_batches: `() -> iterable of global batches` (numpy) covering the evaluation set once; padded
      rows must carry zero weight in the loss. None disables evaluation.
    items_per_example: what one example counts for in throughput (tokens per sequence, or 1).
    items_name: unit of throughput, logged as `train/<items_name>_per_second`.
    flops_per_item: training FLOPs per item for model FLOPs utilization (None when unknown).
    eval_reference: constants logged with every evaluation (for example `eval/ngram_loss`).
    after_training: called with the final params on every process (they are sharded across all
      of them), for example to generate a sample; returns text that process 0 logs, or None.
    """

    model: nn.Module
    init_inputs: Sequence[Any]
    loss_fn: LossFn
    train_iterator: Callable[[int, int], CheckpointableIterator]
    eval_batches: Callable[[], Iterable[Batch]] | None = None
    items_per_example: int = 1
    items_name: str = "examples"
    flops_per_item: float | None = None
    eval_reference: Mapping[str, float] = dataclasses.field(default_factory=dict)
    after_training: Callable[[Any], str | None] | None = None
