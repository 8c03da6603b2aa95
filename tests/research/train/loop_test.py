"""The training loop: resume equals an uninterrupted run, bad states are refused, losses are kept."""

import json
import os

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from research.data import synthetic
from research.train import loop
from research.train.checkpoint import CheckpointMismatchError
from research.train.metrics import read_metrics
from tests.research.train.toy_task import CLASSES, DIM, HIDDEN, Crash, toy_config, toy_task


def _losses(workdir) -> dict[int, float]:
    return {
        r["step"]: r["train/loss"]
        for r in read_metrics(workdir / "metrics.jsonl")
        if "train/loss" in r
    }


def _one_device():
    return jax.devices()[:1]


def test_trains_and_writes_self_describing_workdir(tmp_path, config):
    result = loop.train(config, tmp_path, toy_task(config), devices=_one_device())
    assert result.step == 12 and not result.preempted
    losses = _losses(tmp_path)
    assert sorted(losses) == list(range(1, 13))
    assert losses[12] < losses[1]  # it learns
    records = read_metrics(tmp_path / "metrics.jsonl")
    evals = [r for r in records if "eval/loss" in r]
    assert [r["step"] for r in evals] == [6, 12]
    # Exact counts of correct rows out of the 256 (measured 221, then 233), improving as it learns:
    # evaluating stale or initial parameters, or a fraction of the set, fails.
    correct = [r["eval/accuracy"] * 256 for r in evals]
    assert all(c == round(c) for c in correct) and 0.7 * 256 < correct[0] < correct[1]
    assert evals[1]["eval/loss"] < evals[0]["eval/loss"]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["12", "4", "8"]
    assert json.loads((tmp_path / "config.json").read_text())["num_train_steps"] == 12
    launch = json.loads((tmp_path / "launches.jsonl").read_text().splitlines()[0])
    assert {"argv", "git", "packages", "config", "devices"} <= set(launch)
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path))


def test_resume_after_crash_matches_uninterrupted_run_bit_for_bit(tmp_path, config):
    loop.train(config, tmp_path / "full", toy_task(config), devices=_one_device())
    part = tmp_path / "part"
    # Dies when drawing batch 11: checkpoints 4 and 8 exist, steps 9-10 were logged and are lost.
    with pytest.raises(Crash):
        loop.train(config, part, toy_task(config, crash_at_batch=11), devices=_one_device())
    assert max(_losses(part)) == 9  # batch 11 is drawn while step 10 runs; 10 never logged
    result = loop.train(config, part, toy_task(config), devices=_one_device())
    assert result.step == 12
    assert _losses(part) == _losses(tmp_path / "full")  # exact float equality, every step


def test_checkpoint_with_other_shapes_is_refused_and_kept(tmp_path, config):
    loop.train(config, tmp_path, toy_task(config), devices=_one_device())
    before = sorted(os.listdir(tmp_path / "checkpoints"))
    config_before = (tmp_path / "config.json").read_text()
    with pytest.raises(CheckpointMismatchError, match=r"params/wi/bias.*\(32,\).*\(48,\)"):
        other = toy_config(seed=1)  # a different config, whose config.json must not be written
        loop.train(other, tmp_path, toy_task(other, hidden=48), devices=_one_device())
    assert sorted(os.listdir(tmp_path / "checkpoints")) == before
    assert (tmp_path / "config.json").read_text() == config_before  # still names the writer


def _gelu(x):
    """flax's `nn.gelu` (tanh approximation), in numpy float64."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def test_eval_means_count_only_real_rows_when_the_last_batch_is_padded(tmp_path):
    # 100 eval rows in batches of 64 on 8 devices: the second batch has 36 real rows and 28
    # zero-weight padding rows, spread over the last devices.
    config = toy_config(**{"mesh.data": 8})
    task = toy_task(config, eval_rows=100, eval_batch_size=64)
    result = loop.train(config, tmp_path, task)
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), jax.device_get(result.state.params))
    data = synthetic.gaussian_blobs(256, DIM, CLASSES, seed=0)
    x, labels = data["image"][:100].astype(np.float64), data["label"][:100]
    hidden = _gelu(x @ p["wi"]["kernel"] + p["wi"]["bias"])
    logits = hidden @ p["wo"]["kernel"] + p["wo"]["bias"]
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    want_loss = -log_probs[np.arange(100), labels].mean()
    want_accuracy = (logits.argmax(-1) == labels).mean()
    # Counting the padded rows moves the loss by about 10% and the accuracy by a few rows in 100.
    assert result.metrics["eval/loss"] == pytest.approx(want_loss, rel=1e-6)  # observed 3e-8
    assert result.metrics["eval/accuracy"] == want_accuracy


def test_corrupt_latest_checkpoint_falls_back_to_previous(tmp_path, config, caplog):
    loop.train(toy_config(num_train_steps=8), tmp_path, toy_task(config), devices=_one_device())
    # Damage every data file of the newest checkpoint's state.
    state_dir = tmp_path / "checkpoints" / "8" / "state"
    damaged = 0
    for root, _, files in os.walk(state_dir):
        for name in files:
            if name.startswith(("ocdbt", "d")) or root.endswith("/d"):
                path = os.path.join(root, name)
                with open(path, "r+b") as f:
                    f.truncate(max(os.path.getsize(path) // 3, 1))
                damaged += 1
    assert damaged
    result = loop.train(
        toy_config(num_train_steps=8), tmp_path, toy_task(config), devices=_one_device()
    )
    assert result.step == 8
    names = os.listdir(tmp_path / "checkpoints")
    assert any(n.startswith("corrupt-8-") for n in names)  # kept for inspection, out of the way
    assert "8" in names  # re-trained from step 4 and saved again
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    skipped = f"Checkpoint {tmp_path / 'checkpoints' / '8'} "  # unreadable, or failed to load
    assert any(m.startswith(skipped) and m.endswith("; skipping it.") for m in warnings)
    assert any(m.startswith("Moved the unloadable checkpoint of step 8 to ") for m in warnings)
    full = tmp_path / "full"
    loop.train(toy_config(num_train_steps=8), full, toy_task(config), devices=_one_device())
    assert _losses(tmp_path) == _losses(full)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, config):
    with pytest.raises(loop.NonFiniteLossError, match="non-finite at step 7.*step 4"):
        loop.train(config, tmp_path, toy_task(config, nan_at_step=7), devices=_one_device())
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["4"]


def test_nonfinite_updates_can_be_skipped(tmp_path):
    config = toy_config(skip_nonfinite_updates=True, num_train_steps=8)
    result = loop.train(config, tmp_path, toy_task(config, nan_at_step=7), devices=_one_device())
    assert result.step == 8
    records = {
        r["step"]: r for r in read_metrics(tmp_path / "metrics.jsonl") if "train/finite" in r
    }
    assert records[7]["train/finite"] == 0.0 and records[8]["train/finite"] == 1.0
    assert np.isfinite(records[8]["train/loss"])


def test_unwritable_workdir_is_one_clear_sentence(tmp_path, config):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"Cannot write to --workdir=.*choose a directory"):
        loop.train(config, blocker / "sub", toy_task(config), devices=_one_device())


def test_relative_workdir_is_made_absolute(tmp_path, config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = loop.train(config, "runs/rel", toy_task(config), devices=_one_device())
    assert result.step == 12
    assert sorted(os.listdir(tmp_path / "runs" / "rel" / "checkpoints")) == ["12", "4", "8"]


def _assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_model_state_changes_and_resumes_bit_for_bit_after_a_crash(tmp_path, config):
    full = loop.train(config, tmp_path / "full", toy_task(config, stateful=True), _one_device())
    moments = full.state.model_state["moments"]
    assert int(moments["count"]) == 12  # one update per training step, none in evaluation
    assert np.all(np.asarray(moments["hidden_mean"]) != 0.0)
    stats = full.state.model_state["batch_stats"]["norm"]
    assert np.all(np.asarray(stats["mean"]) != 0.0) and np.all(np.asarray(stats["var"]) != 1.0)
    part = tmp_path / "part"
    with pytest.raises(Crash):  # dies drawing batch 11, after the checkpoint of step 8
        loop.train(config, part, toy_task(config, stateful=True, crash_at_batch=11), _one_device())
    resumed = loop.train(config, part, toy_task(config, stateful=True), _one_device())
    # Restarting the model state from init instead of the checkpoint would count 4, not 12.
    _assert_trees_equal(resumed.state.model_state, full.state.model_state)
    _assert_trees_equal(resumed.state.params, full.state.params)
    assert resumed.metrics["eval/loss"] == full.metrics["eval/loss"]  # uses the running averages


def test_a_skipped_nonfinite_step_leaves_the_model_state_unchanged(tmp_path):
    # With a constant schedule, 6 good steps and a 7th skipped one must equal 6 good steps.
    overrides = {"skip_nonfinite_updates": True, "optimizer.decay": "constant"}
    six = toy_config(num_train_steps=6, **overrides)
    want = loop.train(six, tmp_path / "six", toy_task(six, stateful=True), _one_device())
    seven = toy_config(num_train_steps=7, **overrides)
    task = toy_task(seven, stateful=True, nan_at_step=7)
    got = loop.train(seven, tmp_path / "seven", task, _one_device())
    assert got.step == 7 and got.metrics["train/finite"] == 0.0
    assert int(got.state.model_state["moments"]["count"]) == 6
    _assert_trees_equal(got.state.model_state, want.state.model_state)
    _assert_trees_equal(got.state.params, want.state.params)
    _assert_trees_equal(got.state.opt_state, want.state.opt_state)


def test_model_state_is_sharded_by_its_logical_axes(tmp_path):
    config = toy_config(num_train_steps=2, **{"mesh.data": 2, "mesh.fsdp": 2, "mesh.tensor": 2})
    result = loop.train(config, tmp_path, toy_task(config, stateful=True))
    hidden_mean = result.state.model_state["moments"]["hidden_mean"]
    assert hidden_mean.sharding.spec == P("tensor")  # ('mlp',) -> tensor
    assert {s.data.shape for s in hidden_mean.addressable_shards} == {(HIDDEN // 2,)}
    # BatchNorm's statistics carry no logical axes: replicated on all 8 devices.
    var = result.state.model_state["batch_stats"]["norm"]["var"]
    assert var.sharding.spec == P() and len(var.sharding.device_set) == 8
    assert result.state.params["wi"]["kernel"].sharding.spec == P("fsdp", "tensor")


def test_sharding_rules_from_the_config_shard_params_model_and_optimizer_state(tmp_path):
    mesh = {"mesh.data": 2, "mesh.fsdp": 2, "mesh.tensor": 2}
    rules = {"sharding_rules": "embed=tensor,mlp=fsdp", "optimizer.warmup_steps": 0}
    config = toy_config(num_train_steps=1, **rules, **mesh)
    state = loop.train(config, tmp_path, toy_task(config, stateful=True)).state
    spec = lambda x: x.sharding.spec
    # Defaults: wi/kernel (fsdp, tensor), wo/kernel (None, tensor), hidden_mean (tensor).
    assert spec(state.params["wi"]["kernel"]) == P("tensor", "fsdp")  # ('embed', 'mlp')
    assert spec(state.params["wo"]["kernel"]) == P("fsdp", "tensor")  # ('mlp', 'vocab')
    assert spec(state.model_state["moments"]["hidden_mean"]) == P("fsdp")  # ('mlp',)
    adam = state.opt_state[1][0]  # after the clipping transform
    assert spec(adam.mu["wi"]["kernel"]) == P("tensor", "fsdp")  # moments follow their params


def test_several_steps_per_call_make_the_single_steps_updates(tmp_path):
    # A multi-step call scans the same step function over stacked batches, so params, optimizer
    # and model state (bit for bit on CPU) and every logged mean match the one-step-per-call run. A batch stacked in
    # the wrong order, a skipped or repeated batch, or an RNG not advanced per step would not.
    overrides = {"log_every_steps": 2}
    one = toy_config(**overrides)
    want = loop.train(one, tmp_path / "one", toy_task(one, stateful=True), _one_device())
    two = toy_config(steps_per_call=2, **overrides)
    got = loop.train(two, tmp_path / "two", toy_task(two, stateful=True), _one_device())
    assert got.step == 12
    for a, b in (
        (got.state.params, want.state.params),
        (got.state.opt_state, want.state.opt_state),
    ):
        jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)
    assert int(got.state.model_state["moments"]["count"]) == 12
    got_losses, want_losses = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert sorted(got_losses) == [2, 4, 6, 8, 10, 12]
    np.testing.assert_allclose([got_losses[s] for s in sorted(got_losses)],
                               [want_losses[s] for s in sorted(got_losses)], rtol=1e-6)  # fmt: skip


def test_several_steps_per_call_shard_and_resume(tmp_path):
    # Stacked batches keep their batch axis sharded on 8 devices; a crash-and-resume run with
    # steps_per_call=2 equals the uninterrupted one bit for bit, as single steps do.
    mesh = {"mesh.data": 2, "mesh.fsdp": 2, "mesh.tensor": 2}
    config = toy_config(steps_per_call=2, log_every_steps=2, **mesh)
    full = loop.train(config, tmp_path / "full", toy_task(config))
    part = tmp_path / "part"
    with pytest.raises(Crash):
        loop.train(config, part, toy_task(config, crash_at_batch=11))
    resumed = loop.train(config, part, toy_task(config))
    _assert_trees_equal(resumed.state.params, full.state.params)
    assert _losses(part) == _losses(tmp_path / "full")


def test_a_nonfinite_step_inside_a_call_is_named(tmp_path):
    config = toy_config(steps_per_call=2, log_every_steps=2)
    with pytest.raises(loop.NonFiniteLossError, match="non-finite at step 7.*step 4"):
        loop.train(config, tmp_path, toy_task(config, nan_at_step=7), devices=_one_device())
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["4"]


def test_steps_per_call_must_divide_the_step_counts_and_the_resume_step(tmp_path):
    config = toy_config(steps_per_call=2)  # log_every_steps=1
    with pytest.raises(ValueError, match=r"log_every_steps=1 is not a multiple of .*=2"):
        loop.train(config, tmp_path / "a", toy_task(config), devices=_one_device())
    assert not (tmp_path / "a").exists()
    first = toy_config(num_train_steps=6, checkpoint_every_steps=6)
    loop.train(first, tmp_path / "b", toy_task(first), devices=_one_device())
    config_json = (tmp_path / "b" / "config.json").read_text()
    more = {"log_every_steps": 4, "eval_every_steps": 4, "checkpoint_every_steps": 4}
    second = toy_config(num_train_steps=16, steps_per_call=4, **more)
    with pytest.raises(ValueError, match="at step 6, not a multiple of --config.steps_per_call=4"):
        loop.train(second, tmp_path / "b", toy_task(second), devices=_one_device())
    assert (tmp_path / "b" / "config.json").read_text() == config_json
