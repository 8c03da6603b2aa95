"""Tests for research/train/workdir_lock.py: a second run on a workdir is refused naming the first,
and the lock dies with its holder (SIGKILL included)."""

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys

import jax
import pytest

from research.train import loop, workdir_lock
from tests.experiments.run_experiment import ROOT, env
from tests.research.train.toy_task import toy_config, toy_task

_HOLDER = """
import sys, time
from research.train.workdir_lock import acquire
lock = acquire(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_lock_is_refused_naming_the_holder_until_it_is_released(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--workdir=x y"])
    lock = workdir_lock.acquire(tmp_path)
    holder = json.loads((tmp_path / workdir_lock.LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["command"] == "train.py '--workdir=x y'"
    # flock locks belong to an open file, so a second open in the same process is refused too.
    with pytest.raises(ValueError) as info:
        workdir_lock.acquire(tmp_path)
    assert str(info.value) == (
        f"The workdir {tmp_path} is in use by another run (pid {os.getpid()} on "
        f"{socket.gethostname()}, started {holder['started']}: train.py '--workdir=x y'); wait "
        "for it to end or stop it, or choose another --workdir."
    )
    lock.release()
    lock.release()  # idempotent
    assert (tmp_path / workdir_lock.LOCK_NAME).read_text() == ""  # no holder named any more
    with workdir_lock.acquire(tmp_path):  # free again
        pass


def test_another_process_holding_the_workdir_refuses_the_loop_until_it_is_killed(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    holder = subprocess.Popen(
        [sys.executable, str(script), str(workdir)],
        cwd=ROOT,
        env={**env(), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        config = toy_config()
        with pytest.raises(ValueError) as info:
            loop.train(config, workdir, toy_task(config), devices=jax.devices()[:1])
        message = str(info.value)
        assert f"is in use by another run (pid {holder.pid} on {socket.gethostname()}, " in message
        assert f"{script} {workdir}); wait for it" in message  # its command line
        assert os.listdir(workdir) == [workdir_lock.LOCK_NAME]  # nothing read or written
        holder.kill()  # SIGKILL: no cleanup runs in the holder; the kernel drops its lock
        holder.wait(timeout=30)
        result = loop.train(config, workdir, toy_task(config), devices=jax.devices()[:1])
        assert result.step == 12
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_second_loop_during_a_run_is_refused_and_the_next_run_proceeds(tmp_path):
    config = toy_config(num_train_steps=4, **{"optimizer.warmup_steps": 1})
    refusals = []

    def start_another_run(params, model_state):
        with pytest.raises(ValueError, match=rf"is in use by another run \(pid {os.getpid()} on"):
            loop.train(config, tmp_path, toy_task(config), devices=jax.devices()[:1])
        refusals.append(True)

    task = dataclasses.replace(toy_task(config), after_training=start_another_run)
    assert loop.train(config, tmp_path, task, devices=jax.devices()[:1]).step == 4
    assert refusals == [True]
    # The refused run changed nothing: one launch recorded, checkpoints of the first run only.
    assert len((tmp_path / "launches.jsonl").read_text().splitlines()) == 1
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["4"]
    # Released when the first run ended, even though it ended without an error path.
    assert loop.train(config, tmp_path, toy_task(config), devices=jax.devices()[:1]).step == 4
    assert len((tmp_path / "launches.jsonl").read_text().splitlines()) == 2


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    config = toy_config()
    with pytest.raises(loop.NonFiniteLossError):
        loop.train(config, tmp_path, toy_task(config, nan_at_step=2), devices=jax.devices()[:1])
    with workdir_lock.acquire(tmp_path):
        pass


def test_uris_are_not_locked_and_say_so(caplog):
    # The absl logger's own level, not just the root's: an earlier absl app.run in the same
    # process (the entry tests) leaves it above INFO.
    with caplog.at_level(logging.INFO, logger="absl"):
        assert workdir_lock.acquire("gs://bucket/run") is None
    assert "gs://bucket/run is not a local path, so it is not locked" in caplog.text


def test_only_process_0_takes_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    assert workdir_lock.acquire(tmp_path) is None
    assert not (tmp_path / workdir_lock.LOCK_NAME).exists()
