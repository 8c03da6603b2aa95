"""A toy task for the training-loop tests: a two-layer MLP classifier on synthetic blobs.

Small enough that a test trains it for a few dozen steps in seconds, with logical axis names on its
parameters so sharded runs exercise real partitioning. `ToyStatefulMlp` adds model state (batch
normalization statistics and a running mean with logical axes) for the model-state tests.
"""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.configs.common import base_config
from research.data import array_pipeline, synthetic
from research.train.losses import accuracy, softmax_cross_entropy
from research.train.task import Task
from tests.config_overrides import with_overrides

DIM, CLASSES, HIDDEN = 16, 4, 32


class ToyMlp(nn.Module):
    hidden: int = HIDDEN

    @nn.compact
    def __call__(self, x, train: bool = False):  # [B, DIM] -> [B, CLASSES]
        del train  # no dropout or normalization
        init = nn.initializers.lecun_normal()
        h = nn.Dense(
            self.hidden,
            kernel_init=nn.with_logical_partitioning(init, ("embed", "mlp")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("mlp",)),
            name="wi",
        )(x)
        h = nn.with_logical_constraint(nn.gelu(h), ("batch", "mlp"))
        return nn.Dense(
            CLASSES,
            kernel_init=nn.with_logical_partitioning(init, ("mlp", "vocab")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("vocab",)),
            name="wo",
        )(h)


class ToyStatefulMlp(nn.Module):
    """ToyMlp with model state in two collections.

    'batch_stats': `nn.BatchNorm` of the hidden layer (running mean and variance, unboxed, so
    replicated). 'moments': `count` (int32, training steps seen) and `hidden_mean` [HIDDEN], the
    exact running mean of the hidden layer's batch means, with logical axes ('mlp',). Both change at
    every training step and are left alone in evaluation.
    """

    hidden: int = HIDDEN

    @nn.compact
    def __call__(self, x, train: bool = False):  # [B, DIM] -> [B, CLASSES]
        init = nn.initializers.lecun_normal()
        h = nn.Dense(
            self.hidden,
            kernel_init=nn.with_logical_partitioning(init, ("embed", "mlp")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("mlp",)),
            name="wi",
        )(x)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.5, name="norm")(h)
        count = self.variable("moments", "count", jnp.zeros, (), jnp.int32)
        mean = self.variable(
            "moments",
            "hidden_mean",
            nn.with_logical_partitioning(lambda shape: jnp.zeros(shape, jnp.float32), ("mlp",)),
            (self.hidden,),
        )
        if train and not self.is_initializing():
            count.value = count.value + 1
            mean.value = mean.value + (h.mean(0) - mean.value) / count.value.astype(jnp.float32)
        h = nn.with_logical_constraint(nn.gelu(h), ("batch", "mlp"))
        return nn.Dense(
            CLASSES,
            kernel_init=nn.with_logical_partitioning(init, ("mlp", "vocab")),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, ("vocab",)),
            name="wo",
        )(h)


def toy_config(**overrides) -> ml_collections.ConfigDict:
    config = base_config()
    config.num_train_steps = 12
    config.log_every_steps = 1
    config.eval_every_steps = 6
    config.checkpoint_every_steps = 4
    config.optimizer.warmup_steps = 2
    config.optimizer.learning_rate = 0.05
    config.mesh.data = 1
    config.batch_size = 16
    with_overrides(config, **overrides)
    return config


def toy_task(
    config,
    *,
    hidden: int = HIDDEN,
    nan_at_step: int | None = None,
    crash_at_batch: int | None = None,
    stateful: bool = False,
    eval_rows: int = 256,
    eval_batch_size: int = 64,
) -> Task:
    """A Task over 256 blobs.

    `nan_at_step` makes the loss NaN when the 1-based step equals it; `crash_at_batch` makes the
    data iterator raise when asked for that (1-based) batch, like a machine dying mid-run;
    `stateful` trains `ToyStatefulMlp` instead of `ToyMlp`. Evaluation covers the first
    `eval_rows` examples in batches of `eval_batch_size` (the last one padded with zero-weight rows).
    """
    data = synthetic.gaussian_blobs(256, DIM, CLASSES, seed=0)
    model = (ToyStatefulMlp if stateful else ToyMlp)(hidden)

    def loss_fn(params, model_state, batch, rng, train):
        del rng
        logits, new_model_state = model.apply(
            {"params": params, **model_state},
            batch["image"],
            train=train,
            mutable=list(model_state),
        )
        weights = batch.get("weights")
        loss_sum, count = softmax_cross_entropy(logits, batch["label"], weights)
        if nan_at_step is not None and "step_marker" in batch:
            # Steps are 1-based in logs; a marker column in the data tells which step this is.
            loss_sum = jnp.where(batch["step_marker"][0] == nan_at_step, jnp.nan, loss_sum)
        metrics = {
            "loss": (loss_sum, count),
            "accuracy": accuracy(logits, batch["label"], weights),
        }
        return loss_sum / count, metrics, new_model_state

    def train_iterator(process_index, process_count):
        it = array_pipeline.train_iterator(
            data,
            global_batch_size=config.batch_size,
            seed=config.seed,
            process_index=process_index,
            process_count=process_count,
        )
        if crash_at_batch is not None:
            it = CrashAt(it, crash_at_batch)
        return _StepMarked(it) if nan_at_step is not None else it

    return Task(
        model=model,
        init_inputs=(np.zeros((1, DIM), np.float32),),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        eval_batches=lambda: array_pipeline.eval_batches(
            {k: v[:eval_rows] for k, v in data.items()}, batch_size=eval_batch_size
        ),
    )


class Crash(RuntimeError):
    """The simulated machine failure raised by `CrashAt`."""

    pass


class CrashAt:
    """Wraps a data iterator; raises `Crash` when batch `batch` (1-based) is drawn."""

    def __init__(self, it, batch: int):
        self._it, self._left = it, batch

    def __iter__(self):
        return self

    def __next__(self):
        self._left -= 1
        if self._left == 0:
            raise Crash("simulated machine failure")
        return next(self._it)

    def get_state(self):
        return self._it.get_state()

    def set_state(self, state):
        self._it.set_state(state)


class _StepMarked:
    """Adds 'step_marker' = 1-based step number to every batch (for the NaN-at-step test)."""

    def __init__(self, it):
        self._it, self._count = it, 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._it)
        self._count += 1
        n = len(batch["label"])
        return {**batch, "step_marker": np.full((n,), self._count, np.int32)}

    def get_state(self):
        return {"inner": self._it.get_state(), "count": self._count}

    def set_state(self, state):
        self._it.set_state(state["inner"])
        self._count = state["count"]
