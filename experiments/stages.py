"""Multi-stage experiments on the one training loop: named stages, each resumable in its own
sub-workdir, and a preempted stage stopping the whole experiment cleanly.

    pre = stages.run("pretrain", config, workdir, pretrain_task(config))
    fine = stages.finetune_from(pre, config.finetune, workdir, lambda p: finetune_task(config, p))
    results = {"pretrain": pre.metrics["eval/loss"],
               **{start: r.metrics["eval/accuracy"] for start, r in fine.items()}}
    if write_results(workdir, results, markdown(results)):
        plot(...)

`run(name, ...)` trains `<workdir>/<name>/` with `research.train.loop.train`: a finished stage is
restored, not retrained, and an interrupted one resumes. When the loop reports a preemption (its
checkpoint already saved), `run` raises `StagePreempted`: no later stage starts, no results are
written as if complete, and `experiments.entry` turns it into a warning and exit status 0, so the
scheduler's rerun with the same workdir resumes that stage. Every experiment that does anything after
training (another stage, results, figures) trains through `run`.

A single-run experiment is one stage named `IN_WORKDIR` (''): it trains in `<workdir>/` itself,
so its checkpoints stay where a plain `loop.train` run put them and existing workdirs resume.

A stage's result is read the same way whether it trained now or was restored: `metrics` holds every
metric the loop wrote at the stage's final step (train/* and eval/*, from its metrics.jsonl), on
every process: process 0 reads the file and, in a multi-host run, sends the values to the others
(whose disks may not hold the file), so every process computes the same results.
"""

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from etils import epath
from jax.experimental import multihost_utils

from research.train import loop
from research.train.metrics import read_metrics
from research.train.task import Task

# The stage name of a single-run experiment: its checkpoints and metrics sit in the workdir itself.
IN_WORKDIR = ""

# How `finetune_from` names its two runs: from the pre-trained weights, and from a fresh init.
FINETUNE_STARTS = ("pretrained", "scratch")


class StagePreempted(Exception):
    """A stage stopped for preemption after saving its checkpoint; the experiment must stop too."""

    def __init__(self, stage: str, step: int, workdir):
        self.stage, self.step, self.workdir = stage, step, workdir
        where = f"in stage {stage!r} " if stage != IN_WORKDIR else ""
        super().__init__(
            f"Preempted {where}at step {step} (checkpoint saved in {workdir}); no later stage was "
            "started and no results were written: rerun with the same --workdir to resume."
        )


@dataclasses.dataclass(frozen=True)
class StageResult:
    """A finished stage: its sub-workdir, final step, final metrics and final parameters."""

    name: str
    workdir: epath.Path
    step: int
    metrics: dict[str, Any]  # every metric written at `step` ('train/loss', 'eval/accuracy', ...)
    params: Any  # the final parameters (sharded arrays, as the loop returns them)
    model_state: Any


def final_metrics(stage_workdir, step: int) -> dict[str, Any]:
    """Every metric `<stage_workdir>/metrics.jsonl` holds for `step`, merged into one dict, the
    same on every process (process 0 reads the file: only it writes metrics)."""
    if jax.process_index() != 0:
        return _from_process_0(None)
    records = read_metrics(epath.Path(stage_workdir) / "metrics.jsonl")
    if not records:
        raise ValueError(
            f"{stage_workdir}/metrics.jsonl holds no metrics; the stage logs at its last step, so "
            "its workdir was changed by hand: move it aside and rerun to train the stage again."
        )
    merged = {}
    for record in records:
        if record["step"] == step:
            merged.update(record)
    merged.pop("step", None)
    return _from_process_0(merged)


def _from_process_0(metrics: dict | None) -> dict[str, Any]:
    """Process 0's `metrics` on every process (a JSON text sent as bytes; one process: as is)."""
    if jax.process_count() == 1:
        return metrics
    text = json.dumps(metrics).encode() if metrics is not None else b""
    size = int(multihost_utils.broadcast_one_to_all(np.int32(len(text))))
    data = np.zeros(size, np.uint8)
    data[: len(text)] = np.frombuffer(text, np.uint8)
    return json.loads(bytes(multihost_utils.broadcast_one_to_all(data)).decode())


def run(name: str, config, workdir, task: Task, *, devices=None) -> StageResult:
    """Trains (or restores) stage `name` in `<workdir>/<name>/` as `config` says.

    Raises StagePreempted when the loop stops for preemption (its checkpoint saved).
    """
    stage_workdir = epath.Path(workdir) / name if name != IN_WORKDIR else epath.Path(workdir)
    result = loop.train(config, stage_workdir, task, devices=devices)
    if result.preempted:
        raise StagePreempted(name, result.step, stage_workdir)
    return StageResult(
        name=name,
        workdir=stage_workdir,
        step=result.step,
        metrics=final_metrics(stage_workdir, result.step),
        params=result.state.params,
        model_state=result.state.model_state,
    )


def finetune_from(
    pretrained: StageResult,
    config,
    workdir,
    task_for: Callable[[Any], Task],
    *,
    prefix: str = "finetune",
) -> dict[str, StageResult]:
    """Fine-tunes twice with the same config and data: `<prefix>_pretrained/` starting from
    `pretrained.params`, and `<prefix>_scratch/` from a fresh init.

    task_for(params) builds the fine-tuning Task: with the pre-trained params it warm-starts what
    it takes from them (`research.train.warm_start.from_pretrained`); with None it starts fresh.
    Returns {'pretrained': StageResult, 'scratch': StageResult}.
    """
    starts = {"pretrained": pretrained.params, "scratch": None}
    return {
        start: run(f"{prefix}_{start}", config, workdir, task_for(starts[start]))
        for start in FINETUNE_STARTS
    }
