"""Tests for research/train/config_checks.py: every standard key refused out of range, in one
sentence naming the flag, and refused by the loop before the workdir is touched."""

import math
import subprocess

import jax
import pytest

from experiments import entry
from experiments.configs.digits import mlp
from experiments.configs.lm import gpt_tiny
from research.train import loop
from research.train.config_checks import check_batch_size, check_config
from tests.config_overrides import with_overrides
from tests.experiments import run_experiment as rx
from tests.research.train.toy_task import toy_config, toy_task

INT = "an integer"
NUM = "a finite number"


@pytest.mark.parametrize("make", [toy_config, mlp.get_config, gpt_tiny.get_config])
@pytest.mark.parametrize("arg", [None, "smoke"])
def test_the_shipped_configs_pass(make, arg):
    check_config(make() if make is toy_config else make(arg))


@pytest.mark.parametrize(
    "key, value, valid",
    [
        ("num_train_steps", 0, f"{INT} >= 1"),
        ("num_train_steps", -5, f"{INT} >= 1"),
        ("log_every_steps", 0, f"{INT} >= 1"),
        ("eval_every_steps", -1, f"{INT} >= 1"),
        ("checkpoint_every_steps", 0, f"{INT} >= 1"),
        ("keep_checkpoints", 0, f"{INT} >= 1"),
        ("steps_per_call", 0, f"{INT} >= 1"),
        ("optimizer.learning_rate", -1.0, f"{NUM} > 0"),
        ("optimizer.learning_rate", 0.0, f"{NUM} > 0"),
        ("optimizer.learning_rate", math.inf, f"{NUM} > 0"),
        ("optimizer.learning_rate", math.nan, f"{NUM} > 0"),
        ("optimizer.warmup_steps", -1, f"{INT} in [0, num_train_steps=12]"),
        ("optimizer.warmup_steps", 13, f"{INT} in [0, num_train_steps=12]"),
        ("optimizer.end_learning_rate_ratio", -0.1, f"{NUM} in [0, 1]"),
        ("optimizer.end_learning_rate_ratio", 1.5, f"{NUM} in [0, 1]"),
        ("optimizer.b1", 1.0, f"{NUM} in [0, 1)"),
        ("optimizer.b1", -0.1, f"{NUM} in [0, 1)"),
        ("optimizer.b2", 1.0, f"{NUM} in [0, 1)"),
        ("optimizer.eps", 0.0, f"{NUM} > 0"),
        ("optimizer.weight_decay", -1e-4, f"{NUM} >= 0"),
        ("optimizer.grad_clip_norm", -1.0, f"{NUM} >= 0"),
        ("optimizer.grad_clip_norm", math.nan, f"{NUM} >= 0"),
    ],
)
def test_out_of_range_keys_are_refused_naming_flag_value_and_range(key, value, valid):
    config = with_overrides(toy_config(), **{key: value})
    with pytest.raises(ValueError) as info:
        check_config(config)
    assert str(info.value) == f"--config.{key}={value} is out of range; it must be {valid}."


@pytest.mark.parametrize(
    "key, value",
    [
        ("optimizer.warmup_steps", 0),
        ("optimizer.warmup_steps", 12),  # == num_train_steps
        ("optimizer.end_learning_rate_ratio", 0.0),
        ("optimizer.end_learning_rate_ratio", 1.0),
        ("optimizer.b1", 0.0),
        ("optimizer.weight_decay", 0.0),
        ("optimizer.grad_clip_norm", 0.0),  # disables clipping
        ("optimizer.learning_rate", 1e-12),
    ],
)
def test_the_edges_of_each_range_are_accepted(key, value):
    check_config(with_overrides(toy_config(), **{key: value}))


def test_one_step_without_warmup_is_accepted():
    check_config(toy_config(num_train_steps=1, **{"optimizer.warmup_steps": 0}))


def test_an_unknown_decay_is_refused_with_the_known_ones():
    with pytest.raises(ValueError) as info:
        check_config(with_overrides(toy_config(), **{"optimizer.decay": "cosin"}))
    assert str(info.value) == (
        "--config.optimizer.decay='cosin' is not a known decay; it must be one of cosine, "
        "linear, constant."
    )


def test_a_bad_sharding_rule_is_refused_naming_the_flag():
    with pytest.raises(ValueError) as info:
        check_config(toy_config(sharding_rules="length=tensor,lenght=fsdp"))
    assert str(info.value).startswith(
        "--config.sharding_rules='length=tensor,lenght=fsdp' is refused: the sharding rule "
        "('lenght', 'fsdp') uses the unknown logical axis 'lenght'; use one of batch, length"
    )


@pytest.mark.parametrize(
    "size, axes, processes, message",
    [
        (0, ("data", "fsdp"), 1, r"0 \(.*\) is out of range; it must be >= 1\.$"),
        (12, ("data", "fsdp"), 1, r"12 .* not divisible by the mesh's 8 batch shards \(data=4 x"),
        (10, ("data",), 1, r"10 .* not divisible by the mesh's 4 batch shards \(data=4\); it"),
        (6, (), 4, r"6 .* not divisible by the 4 processes; it must be a multiple of 4\.$"),
    ],
)
def test_batch_sizes_that_do_not_split_are_refused(size, axes, processes, message):
    shape = {"data": 4, "fsdp": 2, "tensor": 1}
    with pytest.raises(ValueError, match=r"^The global batch size " + message):
        check_batch_size(size, axes, shape, processes)


def test_batch_sizes_that_split_are_accepted():
    check_batch_size(16, ("data", "fsdp"), {"data": 4, "fsdp": 2, "tensor": 2}, 2)
    check_batch_size(3, (), {"data": 1, "fsdp": 1, "tensor": 8}, 1)  # batch replicated


def test_the_loop_refuses_before_creating_the_workdir(tmp_path):
    config = toy_config(**{"optimizer.learning_rate": -1.0})
    with pytest.raises(ValueError, match=r"^--config.optimizer.learning_rate=-1.0 ") as info:
        loop.train(config, tmp_path / "run", toy_task(config), devices=jax.devices()[:1])
    assert not (tmp_path / "run").exists()
    assert entry._raised_by_project(info.value)  # printed as one line, exit status 1


def test_the_loop_refuses_a_batch_the_mesh_cannot_split_before_creating_the_workdir(tmp_path):
    config = toy_config(batch_size=12, **{"mesh.data": -1})  # 8 devices
    with pytest.raises(ValueError, match=r"12 .* not divisible by the mesh's 8 batch shards"):
        loop.train(config, tmp_path / "run", toy_task(config))
    assert not (tmp_path / "run").exists()


def test_the_loop_refuses_an_eval_batch_the_mesh_cannot_split_before_creating_the_workdir(
    tmp_path,
):
    """train_seq2seq with --config.data.eval_batch_size=30 on 4 devices trained, then died at its
    first evaluation with a 62-line IndivisibleError and no checkpoint."""
    config = toy_config(batch_size=16, **{"mesh.data": -1})  # 8 devices; training splits
    with pytest.raises(ValueError) as info:
        loop.train(config, tmp_path / "run", toy_task(config, eval_batch_size=12))
    assert str(info.value).startswith(
        "The global batch size 12 (an evaluation batch; usually set by "
        "--config.data.eval_batch_size, or by --config.data.batch_size where the config has no "
        "eval_batch_size) is not divisible by the mesh's 8 batch shards (data=8"
    )
    assert not (tmp_path / "run").exists()
    assert entry._raised_by_project(info.value)  # printed as one line, exit status 1


def test_the_entry_script_prints_one_line_and_exits_1(tmp_path):
    cmd = rx.command(
        "experiments.train_digits",
        "experiments/configs/digits/mlp.py:smoke",
        tmp_path / "run",
        f"--config.data.data_dir={tmp_path / 'data'}",
        "--config.optimizer.learning_rate=-1",
    )
    done = subprocess.run(cmd, cwd=rx.ROOT, env=rx.env(), capture_output=True, text=True)
    assert done.returncode == 1, done.stderr[-3000:]
    want = "--config.optimizer.learning_rate=-1.0 is out of range; it must be a finite number > 0."
    assert f"error: {want}\n" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
