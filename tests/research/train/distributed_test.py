"""Tests for research/train/distributed.py: the switch, and a real single-process JAX runtime that
makes a SIGTERM go through JAX's preemption notifier and Orbax's `reached_preemption`."""

import signal
import socket
import subprocess
import sys

import jax
import pytest

from research.train import distributed
from research.train.metrics import read_metrics
from tests.experiments import run_experiment as rx

CONFIG = "experiments/configs/digits/mlp.py:smoke"


@pytest.fixture
def calls(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append((a, k)))
    return calls


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_off_unless_the_variable_says_so(monkeypatch, calls, value):
    if value is None:
        monkeypatch.delenv(distributed.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(distributed.ENV_VAR, value)
    assert distributed.maybe_initialize() is False
    assert calls == []


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_on_calls_jax_initialize_once_without_arguments(monkeypatch, calls, value):
    monkeypatch.setenv(distributed.ENV_VAR, value)
    assert distributed.maybe_initialize() is True
    assert calls == [((), {})]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_CLUSTER_VARS = (
    "SLURM_JOB_ID",
    "SLURM_STEP_NODELIST",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_LOCALID",
)


def test_the_documented_variables_start_a_single_process_runtime():
    environment = {k: v for k, v in rx.env().items() if k not in _CLUSTER_VARS}
    environment.update(
        {
            distributed.ENV_VAR: "1",
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{_free_port()}",
            "JAX_NUM_PROCESSES": "1",
            "JAX_PROCESS_ID": "0",
        }
    )
    code = "from research.train import distributed; import jax; print(distributed.maybe_initialize(), jax.distributed.is_initialized())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=rx.ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]


def test_sigterm_under_the_distributed_runtime_saves_through_orbax(tmp_path, monkeypatch):
    # JAX auto-detects a SLURM job from these variables; the coordinator is this machine.
    monkeypatch.setenv(distributed.ENV_VAR, "1")
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", f"127.0.0.1:{_free_port()}")
    for name, value in zip(_CLUSTER_VARS, ("1", "127.0.0.1", "1", "0", "0"), strict=True):
        monkeypatch.setenv(name, value)
    workdir = tmp_path / "run"
    flags = (
        f"--config.data.data_dir={tmp_path / 'data'}",
        "--config.num_train_steps=2000",
        "--config.log_every_steps=1",
        # Periodic async saves on: a stock Orbax manager's finalizer would rewind JAX's
        # preemption counter and make the SIGTERM go unheard (see preemption_test).
        "--config.checkpoint_every_steps=2",
        "--config.eval_every_steps=100000",
    )
    cmd = rx.command("experiments.train_digits", CONFIG, workdir, *flags)
    code, stderr = rx.run_until(cmd, rx.step_logged(workdir / "metrics.jsonl", 3), signal.SIGTERM)
    assert code == 0, stderr[-3000:]
    assert "Connecting to JAX distributed service" in stderr
    assert "SIGTERM caught" in stderr  # JAX's notifier, not the single-process handler
    saved = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert 3 < saved < 2000, saved
    assert f"Preempted: saved the checkpoint of step {saved}" in stderr  # at JAX's sync point
    logged = max(r["step"] for r in read_metrics(workdir / "metrics.jsonl"))
    assert logged == saved  # it stopped at the step it saved
