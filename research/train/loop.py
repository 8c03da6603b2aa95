"""The one training loop every experiment uses.

`train(config, workdir, task)` owns the mesh, sharded init, the jitted step, evaluation, checkpoint
and resume, preemption, metrics and progress; the `Task` supplies the model, loss and data.

Init: `variables = task.model.init({'params': rng}, *task.init_inputs)`; `variables['params']` are
the parameters and every other collection (batch statistics, EMA weights, calibration) the
`model_state`, which the loss receives and returns (see `task.LossFn`) and which is checkpointed and
sharded with the parameters.

Config keys read here (every experiment config has them): seed, num_train_steps, log_every_steps,
eval_every_steps, checkpoint_every_steps, keep_checkpoints, skip_nonfinite_updates, optimizer.*,
mesh.{data,fsdp,tensor}, sharding_rules (extra logical-axis rules, see `research.sharding.axes`; used
for the parameters, the model state, the optimizer state and the batches alike).

One run per workdir: a second run started on a workdir in use is refused, naming the first (see
`workdir_lock`).

Steps per call: `config.steps_per_call` (optional, default 1) runs that many optimizer steps in
one jitted call (`step.make_multi_step`, a `lax.scan` over stacked batches), so small models are not
held back by the host's per-call work; the updates are those of single steps. Logging, evaluation,
checkpoints and preemption happen between calls, so the step counts must be multiples of it.

Resume: re-running with the same workdir restores the newest complete checkpoint (train state and
data iterator position together) and continues; the per-step RNG is `fold_in(seed, step)`, so the
continued run computes what an uninterrupted run computes, bit for bit on CPU.
"""

import contextlib
import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np
from absl import logging

from research.sharding import partition
from research.sharding.axes import parse_rules, with_additional_rules
from research.sharding.mesh import make_mesh
from research.train import workdir_lock
from research.train.checkpoint import Checkpointer
from research.train.config_checks import EVALUATION_BATCH, check_batch_size, check_config
from research.train.metrics import MetricsWriter
from research.train.optimizer import learning_rate_schedule, make_optimizer
from research.train.preemption import PreemptionWatcher
from research.train.progress import Progress
from research.train.state import TrainState
from research.train.step import make_eval_step, make_multi_step, make_train_step
from research.train.task import Task
from research.train.workdir import check_writable, record_launch


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss or gradient."""


@dataclasses.dataclass
class Result:
    """What `train` returns: the final step, the last logged metrics and whether it was preempted."""

    step: int
    metrics: dict
    preempted: bool = False
    state: TrainState | None = None


def _mean(pairs) -> dict[str, float]:
    return {k: float(t) / max(float(c), 1e-30) for k, (t, c) in pairs.items()}


def _accumulate(acc: dict, pairs: dict) -> dict:
    """Adds metric pairs (scalars, or [steps] arrays from a multi-step call) into `acc`."""
    for k, (t, c) in pairs.items():
        t0, c0 = acc.get(k, (0.0, 0.0))
        acc[k] = (t0 + float(np.sum(t, dtype=np.float64)), c0 + float(np.sum(c, dtype=np.float64)))
    return acc


def _process_rows(batch, mesh_batch_size: int):
    """This process's contiguous rows of a global numpy batch."""
    n, i = jax.process_count(), jax.process_index()
    rows = mesh_batch_size // n
    return jax.tree.map(lambda x: np.asarray(x)[i * rows : (i + 1) * rows], batch)


def evaluate(eval_step, state: TrainState, task: Task, mesh, rules) -> dict[str, float]:
    """Exact means of the loss's metric pairs over `task.eval_batches()`, named `eval/<metric>`."""
    acc = {}
    for batch in task.eval_batches():
        size = len(next(iter(batch.values())))
        sharded = partition.global_batch(_process_rows(batch, size), mesh, rules)
        metrics = eval_step(state.params, state.model_state, sharded)
        acc = _accumulate(acc, jax.device_get(metrics))
    return {f"eval/{k}": v for k, v in _mean(acc).items()} | dict(task.eval_reference)


def _batch_axes(mesh, rules) -> tuple[str, ...]:
    """The mesh axes the rows of a batch are split over (('data', 'fsdp') by default)."""
    (axes,) = partition.batch_sharding(mesh, rules).spec or (None,)
    return () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)


def _eval_batch_sizes(task: Task) -> list[int]:
    """Every distinct global batch size of `task.eval_batches()` (one pass over its batches)."""
    if task.eval_batches is None:
        return []
    return sorted({len(jax.tree.leaves(batch)[0]) for batch in task.eval_batches()})


def train(config, workdir, task: Task, devices=None) -> Result:
    """Trains `task` as `config` says, in `workdir` (created, resumed or refused; never clobbered).

    `devices`: the devices of the mesh (default: all of them). The config, the mesh, the first
    training batch and every evaluation batch size are checked before anything is written to the
    workdir.
    """
    check_config(config)
    mesh = make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor, devices=devices)
    logging.info("Mesh: %s", dict(mesh.shape))
    rules = with_additional_rules(parse_rules(config.sharding_rules))
    tx = make_optimizer(config.optimizer, config.num_train_steps)
    train_iter = task.train_iterator(jax.process_index(), jax.process_count())
    first_batch = next(train_iter)
    local_rows = len(jax.tree.leaves(first_batch)[0])
    batch_axes, mesh_shape = _batch_axes(mesh, rules), dict(mesh.shape)
    check_batch_size(local_rows * jax.process_count(), batch_axes, mesh_shape, jax.process_count())
    for size in _eval_batch_sizes(task):
        check_batch_size(size, batch_axes, mesh_shape, jax.process_count(), EVALUATION_BATCH)
    workdir = check_writable(workdir)

    def init_state(rng):
        variables = dict(task.model.init({"params": rng}, *task.init_inputs))
        params = variables.pop("params")
        if task.warm_start is not None:
            params = task.warm_start(params)  # pre-trained values, on the fresh params' shards
        return TrainState.create(params, tx, model_state=variables)

    with contextlib.ExitStack() as cleanup:
        lock = workdir_lock.acquire(workdir)  # before any checkpoint is read; refuses a 2nd run
        if lock is not None:
            cleanup.callback(lock.release)  # registered first, so released last
        cleanup.enter_context(jax.set_mesh(mesh))
        cleanup.enter_context(nn.logical_axis_rules(list(rules)))
        # Parameters are born sharded: shapes and logical axes first, then a jitted init that
        # writes each shard directly on its devices.
        rng = jax.random.key(config.seed)
        abstract_boxed = jax.eval_shape(init_state, rng)
        shardings = partition.state_shardings(abstract_boxed, mesh, rules)
        abstract = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
            partition.strip_boxes(abstract_boxed),
            shardings,
        )
        n_params = sum(math.prod(a.shape) for a in jax.tree.leaves(abstract.params))
        logging.info("Model parameters: %s", f"{n_params:,}")

        checkpointer = Checkpointer(
            workdir / "checkpoints", max_to_keep=config.keep_checkpoints, async_save=True
        )
        cleanup.callback(checkpointer.close)
        cleanup.callback(checkpointer.wait)  # runs first: pending saves complete, then close
        restored = checkpointer.restore_latest(abstract)  # refuses a checkpoint of other shapes
        per_call = config.get("steps_per_call", 1)
        if restored is not None and restored.step % per_call:
            raise ValueError(
                f"The checkpoint in {workdir} is at step {restored.step}, not a multiple of "
                f"--config.steps_per_call={per_call}; resume with a steps_per_call that divides "
                f"{restored.step} (1 always does)."
            )
        record_launch(workdir, config)  # only now: a refused launch must not overwrite config.json
        if restored is None:
            state = jax.jit(lambda r: nn.unbox(init_state(r)), out_shardings=shardings)(rng)
            start_step = 0
        else:
            state, start_step = restored.state, restored.step
            train_iter.set_state(restored.data_state)  # the first batch was only a sample
            first_batch = None
            logging.info("Resumed from the checkpoint of step %d.", start_step)

        writer = MetricsWriter(
            workdir,
            resume_step=None if restored is None else start_step,
            enabled=jax.process_index() == 0,
        )
        cleanup.callback(writer.close)
        step_fn = make_train_step(task.loss_fn, tx, config.seed, config.skip_nonfinite_updates)
        batch_sharding = partition.batch_sharding(mesh, rules)
        if per_call > 1:
            step_fn = make_multi_step(step_fn, per_call)
            batch_sharding = partition.stacked_batch_sharding(mesh, rules)
        train_step = jax.jit(
            step_fn,
            in_shardings=(shardings, batch_sharding),
            out_shardings=(shardings, None),
            donate_argnums=(0,),
        )
        eval_step = jax.jit(
            make_eval_step(task.loss_fn),
            in_shardings=(shardings.params, shardings.model_state, None),
        )
        watcher = PreemptionWatcher()
        cleanup.callback(watcher.close)
        loop = _Loop(
            config,
            task,
            mesh,
            rules,
            per_call,
            train_step,
            eval_step,
            checkpointer,
            writer,
            watcher,
        )
        result = loop.run(state, start_step, train_iter, first_batch)
        if not result.preempted and task.after_training:
            # Every process calls it: the params are sharded across all of them.
            text = task.after_training(result.state.params, result.state.model_state)
            if text and jax.process_index() == 0:
                logging.info("%s", text)
                writer.write_text(result.step, "sample", text)
        return result


@dataclasses.dataclass
class _Loop:
    config: object
    task: Task
    mesh: object
    rules: tuple
    steps_per_call: int
    train_step: object
    eval_step: object
    checkpointer: Checkpointer
    writer: MetricsWriter
    watcher: PreemptionWatcher

    def run(self, state, step: int, train_iter, first_batch=None) -> Result:
        """Trains from `step` to `num_train_steps`; `first_batch`: one already drawn (or None)."""
        config, task = self.config, self.task
        total = config.num_train_steps
        schedule = learning_rate_schedule(config.optimizer, total)
        per_call = self.steps_per_call
        # The batch (or per_call stacked batches) of the next call, and the iterator's position
        # after it (what a checkpoint taken after that call records).
        batch, data_state = self._draw(train_iter, first_batch)
        batch_size = jax.tree.leaves(batch)[0].shape[1 if per_call > 1 else 0]
        progress = Progress(step, total, batch_size * task.items_per_example, task.items_name)
        acc, last = {}, {}
        while step < total:
            state, pairs = self.train_step(state, batch)  # dispatched asynchronously
            step += per_call
            step_data_state = data_state
            if step < total:  # load the next batch while the device computes this step
                batch, data_state = self._draw(train_iter)
            # Wait for the step: the loss must be known to be finite before anything is saved.
            # Blocking every step also matters on CPU: with many fake devices on few cores, jitted
            # steps with collectives dispatched back to back can deadlock.
            pairs = jax.device_get(pairs)
            finite = np.reshape(pairs["finite"][0], -1)
            if not finite.all() and not config.skip_nonfinite_updates:
                bad = int(np.argmin(finite))  # the first non-finite step of the call
                loss = np.reshape(pairs["loss"][0], -1)[bad] / np.reshape(pairs["loss"][1], -1)[bad]
                raise NonFiniteLossError(
                    f"The loss or gradients became non-finite at step {step - per_call + bad + 1} "
                    f"(loss {float(loss)}); training stopped and "
                    f"the last good checkpoint (step {self.checkpointer.latest_step()}) was kept. "
                    "Lower --config.optimizer.learning_rate or "
                    "--config.optimizer.grad_clip_norm, or set "
                    "--config.skip_nonfinite_updates=True to skip such updates."
                )
            acc = _accumulate(acc, pairs)

            if step % config.log_every_steps == 0 or step == total:
                timing = progress.tick(step)
                means = _mean(acc)
                acc = {}
                last = {f"train/{k}": v for k, v in means.items()}
                last["train/learning_rate"] = float(schedule(step - 1))
                last.update({f"train/{k}": v for k, v in timing.items()})
                if task.flops_per_item and jax.devices()[0].platform != "cpu":
                    achieved = timing[f"{task.items_name}_per_second"] * task.flops_per_item
                    last["train/tflops_per_second_per_device"] = (
                        achieved / 1e12 / jax.device_count()
                    )
                self.writer.write(step, last)
                logging.info("%s", progress.line(step, means["loss"], timing))

            if task.eval_batches and (step % config.eval_every_steps == 0 or step == total):
                with progress.paused():
                    eval_metrics = evaluate(self.eval_step, state, task, self.mesh, self.rules)
                self.writer.write(step, eval_metrics)
                shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(eval_metrics.items()))
                logging.info("eval at step %d: %s", step, shown)
                last = {**last, **eval_metrics}

            preempted = self.watcher.reached(step)
            if step % config.checkpoint_every_steps == 0 or step == total or preempted:
                with progress.paused():
                    self.checkpointer.save(step, state, step_data_state, force=preempted)
            if preempted:
                logging.warning("Preempted: saved the checkpoint of step %d; exiting.", step)
                self.checkpointer.wait()
                return Result(step=step, metrics=last, preempted=True, state=state)
        return Result(step=step, metrics=last, state=state)

    def _draw(self, train_iter, first=None):
        """(global batch for the next call, iterator state after it); `first`: a local batch
        already drawn. With steps_per_call > 1 the local batches are stacked [steps, b, ...]."""
        local = [next(train_iter) if first is None else first]
        local += [next(train_iter) for _ in range(self.steps_per_call - 1)]
        data_state = train_iter.get_state()
        if self.steps_per_call == 1:
            return partition.global_batch(local[0], self.mesh, self.rules), data_state
        stacked = jax.tree.map(lambda *rows: np.stack(rows), *local)
        return partition.global_batch(stacked, self.mesh, self.rules, stacked=True), data_state
