"""The contract between an experiment and the training loop.

An experiment builds a `Task` (a model, a loss, its data) and calls `research.train.loop.train`.
Everything else (mesh, sharded init, jitted step, evaluation, checkpoint and resume, preemption,
metrics and progress) is the loop's job.

Metrics are `(total, count)` pairs (see `research.train.losses`): the loop averages them exactly over
log intervals and evaluation sets.

Model state: the loop initializes `variables = model.init({'params': rng}, *init_inputs)` and keeps
`variables['params']` as the parameters and every other collection as `model_state` (`{}` for a
stateless model). The loss receives both and returns the model state the step produced; a stateless
loss applies `{'params': params, **model_state}` and returns `model_state` unchanged:

    def loss_fn(params, model_state, batch, rng, train):
        logits, new_state = model.apply(
            {"params": params, **model_state}, batch["x"], train=train,
            rngs={"dropout": rng}, mutable=list(model_state),
        )
        loss, metrics = classification_loss(logits, batch["label"], batch.get("weights"))
        return loss, metrics, new_state
"""

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import flax.linen as nn
import jax

Batch = Mapping[str, Any]  # name -> array [B, ...]; every leaf's leading axis is the batch
MetricPairs = Mapping[str, tuple[jax.Array, jax.Array]]


ModelState = Mapping[str, Any]  # collection name -> variables, e.g. {'batch_stats': {...}}


class LossFn(Protocol):
    def __call__(
        self, params, model_state: ModelState, batch: Batch, rng: jax.Array, train: bool
    ) -> tuple[jax.Array, MetricPairs, ModelState]:
        """Returns the scalar to minimise, metric pairs (must include 'loss') and the new model state.

        The new model state must have the structure of `model_state` (the same collections and
        shapes). Training keeps it (unless the step is non-finite and skipped); evaluation
        (`train=False`) ignores it.
        """


class CheckpointableIterator(Iterator, Protocol):
    """A data iterator whose position can be saved and restored (grain's `DatasetIterator` is one)."""

    def get_state(self) -> dict: ...

    def set_state(self, state: dict) -> None: ...


@dataclasses.dataclass(frozen=True)
class Task:
    """What an experiment supplies.

    model: a Linen module; `model.init({'params': rng}, *init_inputs)` creates its parameters
      ('params') and its model state (every other collection).
    init_inputs: example inputs for `init` (shapes matter, values do not).
    loss_fn: `(params, model_state, batch, rng, train) -> (loss, metric pairs, new model_state)`
      (see `LossFn`); jitted by the loop.
    train_iterator: `(process_index, process_count) -> iterator` of this process's rows of each
      global batch (numpy), checkpointable, infinite.
    eval_batches: `() -> iterable of global batches` (numpy) covering the evaluation set once; padded
      rows must carry zero weight in the loss. None disables evaluation.
    items_per_example: what one example counts for in throughput (tokens per sequence, or 1).
    items_name: unit of throughput, logged as `train/<items_name>_per_second`.
    flops_per_item: training FLOPs per item for model FLOPs utilization (None when unknown).
    eval_reference: constants logged with every evaluation (for example `eval/ngram_loss`).
    after_training: `(params, model_state) -> str | None`, called with the final state on every
      process (it is sharded across all of them), for example to generate a sample; returns text
      that process 0 logs, or None.
    warm_start: `params -> params`, applied to the fresh parameters inside the (sharded) init of a
      run that starts from step 0, e.g. `research.train.warm_start.from_pretrained(pretrained)`;
      None keeps the fresh init. A resumed run restores its checkpoint instead.
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
    after_training: Callable[[Any, ModelState], str | None] | None = None
    warm_start: Callable[[Any], Any] | None = None
