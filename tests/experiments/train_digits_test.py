"""The image experiment end to end: smoke run, exact resume after a crash, and the default config
reaching its documented accuracy."""

import dataclasses
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import train_digits
from experiments.configs.digits import mlp
from research.data import digits
from research.train import loop
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.experiments import run_experiment as rx
from tests.research.train.toy_task import Crash, CrashAt


def test_entry_scripts_can_be_imported_together():
    code = "import experiments.train_lm, experiments.train_digits"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=rx.ROOT, env=rx.env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-1500:]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def _config(data_dir, arg="smoke", **overrides):
    config = mlp.get_config(arg)
    config.data.data_dir = data_dir
    with_overrides(config, **overrides)
    return config


def _losses(workdir) -> dict[int, float]:
    return {
        r["step"]: r["train/loss"]
        for r in read_metrics(workdir / "metrics.jsonl")
        if "train/loss" in r
    }


def test_smoke_run_on_8_devices_logs_accuracy(tmp_path, data_dir):
    result = train_digits.main(_config(data_dir), tmp_path)
    assert jax.device_count() == 8
    assert result.step == 20 and not result.preempted
    records = read_metrics(tmp_path / "metrics.jsonl")
    evals = [r for r in records if "eval/loss" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert evals[-1]["eval/accuracy"] > 0.3  # chance is 0.1; 20 steps measured 0.48
    # The final evaluation equals the test set's metrics computed directly over its 180 real rows
    # (the last of the three eval batches of 64 carries 12 zero-weight padding rows).
    test = digits.load_arrays("test", data_dir)
    model = train_digits.build_task(_config(data_dir)).model
    params = jax.device_get(result.state.params)
    logits = np.asarray(model.apply({"params": params}, test["image"], train=False), np.float64)
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    rows = np.arange(len(test["label"]))
    assert len(rows) == 180
    assert evals[-1]["eval/accuracy"] == np.mean(logits.argmax(-1) == test["label"])
    want_loss = -log_probs[rows, test["label"]].mean()
    assert evals[-1]["eval/loss"] == pytest.approx(want_loss, rel=1e-6)  # observed 2e-8
    train = [r for r in records if "train/loss" in r]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    assert all("train/accuracy" in r and r["train/examples_per_second"] > 0 for r in train)
    assert train[-1]["train/loss"] < train[0]["train/loss"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["10", "20"]
    params = jax.tree.leaves(result.state.params)
    assert all(len(p.sharding.device_set) == 8 for p in params)


def test_resume_after_a_crash_matches_the_uninterrupted_run_bit_for_bit(tmp_path, data_dir):
    overrides = {"num_train_steps": 12, "log_every_steps": 1, "checkpoint_every_steps": 4}
    config = _config(data_dir, **overrides, **{"eval_every_steps": 6, "mesh.data": 1})
    one = jax.devices()[:1]
    full = loop.train(config, tmp_path / "full", train_digits.build_task(config), devices=one)
    task = train_digits.build_task(config)
    crashing = dataclasses.replace(
        task, train_iterator=lambda i, n: CrashAt(task.train_iterator(i, n), 11)
    )
    with pytest.raises(Crash):
        loop.train(config, tmp_path / "part", crashing, devices=one)
    assert max(_losses(tmp_path / "part")) == 9  # batch 11 is drawn while step 10 runs
    resumed = loop.train(config, tmp_path / "part", train_digits.build_task(config), devices=one)
    assert resumed.step == 12
    assert _losses(tmp_path / "part") == _losses(tmp_path / "full")  # exact, every step
    assert resumed.metrics["eval/loss"] == full.metrics["eval/loss"]
    assert resumed.metrics["eval/accuracy"] == full.metrics["eval/accuracy"]


def test_default_config_reaches_its_accuracy(tmp_path, data_dir):
    config = _config(data_dir, arg=None, **{"mesh.data": 1})
    assert config.num_train_steps == 600
    result = loop.train(
        config, tmp_path, train_digits.build_task(config), devices=jax.devices()[:1]
    )
    assert result.step == 600
    assert result.metrics["eval/accuracy"] >= 0.95  # measured 0.989 on CPU
    evals = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "eval/loss" in r]
    assert [r["step"] for r in evals] == [200, 400, 600]
