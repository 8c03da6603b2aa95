"""The stage runner: a stage trains once and is restored after, its metrics read one way, the
pre-trained run really starts from the pre-trained weights, and a preempted stage stops everything
after it (no later stage directory, the preempted one resumable)."""

import dataclasses
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import stages
from research.train.metrics import read_metrics
from research.train.warm_start import from_pretrained
from tests.experiments import run_experiment as rx
from tests.experiments.preemption import preempt_stage
from tests.research.train.toy_task import toy_config, toy_task


def _two_stages(workdir, config):
    """A pretrain stage, then fine-tuning from it and from scratch (the toy task all three times)."""
    pre = stages.run("pretrain", config, workdir, toy_task(config), devices=jax.devices()[:1])

    def task_for(params):
        task = toy_task(config)
        if params is None:
            return task
        return dataclasses.replace(task, warm_start=from_pretrained(params))

    fine = {}
    for start, params in (("pretrained", pre.params), ("scratch", None)):
        fine[start] = stages.run(
            f"finetune_{start}", config, workdir, task_for(params), devices=jax.devices()[:1]
        )
    return pre, fine


def test_run_reports_the_final_steps_metrics_and_restores_instead_of_retraining(tmp_path):
    config = toy_config()
    first = stages.run("only", config, tmp_path, toy_task(config), devices=jax.devices()[:1])
    records = read_metrics(tmp_path / "only" / "metrics.jsonl")
    at_12 = {k: v for r in records if r["step"] == 12 for k, v in r.items() if k != "step"}
    assert first.step == 12 and first.metrics == at_12
    assert {"train/loss", "eval/loss", "eval/accuracy"} <= set(first.metrics)
    again = stages.run("only", config, tmp_path, toy_task(config), devices=jax.devices()[:1])
    assert again.step == 12 and again.metrics == first.metrics  # restored: same record
    assert read_metrics(tmp_path / "only" / "metrics.jsonl") == records  # nothing appended
    np.testing.assert_array_equal(
        jax.device_get(again.params["wo"]["kernel"]), jax.device_get(first.params["wo"]["kernel"])
    )


def test_a_single_run_stage_trains_in_the_workdir_itself(tmp_path):
    """Catches IN_WORKDIR moving a single-run experiment's checkpoints into a subdirectory, which
    would make an existing workdir start over instead of resuming."""
    config = toy_config(num_train_steps=4, eval_every_steps=4, checkpoint_every_steps=4)
    only = stages.run(
        stages.IN_WORKDIR, config, tmp_path, toy_task(config), devices=jax.devices()[:1]
    )
    assert only.workdir == tmp_path and only.step == 4 and "eval/loss" in only.metrics
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["4"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["checkpoints"]


def test_finetune_from_starts_one_run_from_the_pretrained_weights(tmp_path, monkeypatch):
    config = toy_config(num_train_steps=4, eval_every_steps=4, checkpoint_every_steps=4)
    pre = stages.run("pretrain", config, tmp_path, toy_task(config), devices=jax.devices()[:1])
    seen = {}

    def task_for(params):
        seen[params is None] = True
        task = toy_task(config)
        return (
            task
            if params is None
            else dataclasses.replace(task, warm_start=from_pretrained(params))
        )

    monkeypatch.setattr(
        stages.loop, "train",
        _wrap_train(stages.loop.train, devices=jax.devices()[:1]),
    )  # fmt: skip
    fine = stages.finetune_from(pre, config, tmp_path, task_for)
    assert list(fine) == ["pretrained", "scratch"] and seen == {False: True, True: True}
    assert str(fine["pretrained"].workdir) == str(tmp_path / "finetune_pretrained")
    # The pre-trained start begins where pre-training ended: its first loss is the pretrain's last
    # level, far below the fresh start's (measured 0.17 vs 1.39 at step 1).
    first = {
        start: read_metrics(result.workdir / "metrics.jsonl")[0]["train/loss"]
        for start, result in fine.items()
    }
    assert first["pretrained"] < 0.5 * first["scratch"]


def _wrap_train(train, **fixed):
    def wrapped(*args, **kwargs):
        return train(*args, **{**kwargs, **fixed})

    return wrapped


@pytest.mark.parametrize("stage_number, stage", [(1, "pretrain"), (2, "finetune_pretrained"),
                                                  (3, "finetune_scratch")])  # fmt: skip
def test_a_preempted_stage_stops_every_later_stage(tmp_path, monkeypatch, stage_number, stage):
    config = toy_config(checkpoint_every_steps=12)
    preempt_stage(monkeypatch, stage_number)
    with pytest.raises(stages.StagePreempted, match=f"stage '{stage}' at step 1") as raised:
        _two_stages(tmp_path, config)
    assert raised.value.stage == stage and raised.value.step == 1
    order = ["pretrain", "finetune_pretrained", "finetune_scratch"]
    started = sorted(p.name for p in tmp_path.iterdir())
    assert started == sorted(order[:stage_number])  # nothing after the preempted stage
    saved = tmp_path / stage / "checkpoints"
    assert sorted(p.name for p in saved.iterdir() if p.name.isdigit()) == ["1"]
    monkeypatch.undo()
    pre, fine = _two_stages(tmp_path, config)  # the rerun resumes and finishes every stage
    assert pre.step == 12 and {r.step for r in fine.values()} == {12}
    losses = [
        r["step"] for r in read_metrics(tmp_path / stage / "metrics.jsonl") if "train/loss" in r
    ]
    assert losses == list(range(1, 13))  # resumed after step 1, not restarted or appended twice


def test_entry_turns_a_preempted_stage_into_exit_status_zero(tmp_path):
    """`entry.run` catches StagePreempted: the warning is printed, status 0, no 'error:' line."""
    script = tmp_path / "preempted_experiment.py"
    script.write_text(
        "import pathlib\n"
        "from experiments import entry, stages\n\n"
        "def main(config, workdir):\n"
        "    raise stages.StagePreempted('finetune_scratch', 7, pathlib.Path(workdir) / 'x')\n\n"
        "if __name__ == '__main__':\n"
        "    entry.run(main)\n"
    )
    config = tmp_path / "config.py"
    config.write_text(
        "import ml_collections\n\ndef get_config():\n    return ml_collections.ConfigDict()\n"
    )
    env = {**rx.env(), "PYTHONPATH": str(rx.ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), f"--config={config}", f"--workdir={tmp_path / 'w'}"],
        cwd=rx.ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Preempted in stage 'finetune_scratch' at step 7" in done.stderr
    assert "error:" not in done.stderr


def test_final_metrics_refuses_an_emptied_metrics_file(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(ValueError, match="holds no metrics"):
        stages.final_metrics(tmp_path, 3)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 3, "eval/loss": 1.5}) + "\n")
    assert stages.final_metrics(tmp_path, 3) == {"eval/loss": 1.5}


def test_every_process_gets_process_0s_metrics(tmp_path, monkeypatch):
    """A multi-host run: only process 0 has metrics.jsonl; the others receive its values (before,
    they got {} and a caller's metrics['eval/loss'] raised KeyError there)."""
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"step": 3, "eval/loss": 1.5, "eval/accuracy": 0.25}) + "\n"
    )
    sent = []  # what process 0 broadcasts, in order, replayed to process 1

    def broadcast_from_0(value):
        sent.append(np.asarray(value).copy())
        return value

    monkeypatch.setattr(stages.jax, "process_count", lambda: 2)
    monkeypatch.setattr(stages.multihost_utils, "broadcast_one_to_all", broadcast_from_0)
    on_0 = stages.final_metrics(tmp_path, 3)
    replay = iter(list(sent))
    monkeypatch.setattr(stages.jax, "process_index", lambda: 1)
    monkeypatch.setattr(stages.multihost_utils, "broadcast_one_to_all", lambda _: next(replay))
    on_1 = stages.final_metrics(tmp_path / "absent_on_this_host", 3)
    assert on_0 == on_1 == {"eval/loss": 1.5, "eval/accuracy": 0.25}
