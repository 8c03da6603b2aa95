"""Tests for research/train/task.py: the Task contract's defaults, and one Task through the loop."""

import dataclasses

import jax
import numpy as np
import pytest

from research.train import loop
from research.train.metrics import read_metrics
from research.train.task import Task
from tests.research.train.toy_task import toy_config, toy_task


def _minimal():
    return Task(model=None, init_inputs=(), loss_fn=None, train_iterator=None)


def test_defaults():
    task = _minimal()
    assert task.eval_batches is None and task.after_training is None
    assert task.items_per_example == 1 and task.items_name == "examples"
    assert task.flops_per_item is None and task.eval_reference == {}
    assert _minimal().eval_reference is not task.eval_reference  # no shared mutable default


def test_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _minimal().items_name = "tokens"


def test_loop_uses_items_eval_reference_and_after_training(tmp_path):
    config = toy_config(num_train_steps=2, log_every_steps=1, eval_every_steps=2)
    seen = []

    def after_training(params, model_state):
        seen.append((params, model_state))
        return "sample text"

    task = dataclasses.replace(
        toy_task(config),
        items_per_example=5,
        items_name="tokens",
        eval_reference={"eval/baseline": 1.25},
        after_training=after_training,
    )
    result = loop.train(config, tmp_path, task, devices=jax.devices()[:1])
    assert len(seen) == 1
    params, model_state = seen[0]
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(result.state.params), strict=True):
        np.testing.assert_array_equal(a, b)  # called with the final parameters
    assert model_state == {}  # and the (empty) model state of the stateless toy model
    records = read_metrics(tmp_path / "metrics.jsonl")
    train = [r for r in records if "train/loss" in r]
    assert all("train/tokens_per_second" in r for r in train)
    assert "train/examples_per_second" not in train[0]
    timing = train[-1]
    # batch 16 x 5 tokens per example, over the measured seconds per step
    assert timing["train/tokens_per_second"] == pytest.approx(80 / timing["train/seconds_per_step"])
    assert [r["eval/baseline"] for r in records if "eval/loss" in r] == [1.25]
