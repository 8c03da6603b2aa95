"""Running an experiment script as a user does, in a subprocess, for the resume and signal tests."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command(module: str, config: str, workdir, *flags: str) -> list[str]:
    return [sys.executable, "-m", module, f"--config={config}", f"--workdir={workdir}", *flags]


def env(num_devices: int = 1) -> dict[str, str]:
    """The test process's environment with its own CPU device count (XLA_FLAGS is per process)."""
    flags = " ".join(
        f
        for f in os.environ.get("XLA_FLAGS", "").split()
        if "xla_force_host_platform_device_count" not in f
    )
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count={num_devices}".strip(),
    }


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)


def run_until(cmd: list[str], ready, sig: int, timeout: float = 300) -> tuple[int, str]:
    """Starts `cmd`, sends `sig` as soon as `ready()` is true, returns (exit code, stderr)."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"finished before the signal:\n{proc.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the run to become ready")
            time.sleep(0.02)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def step_logged(metrics_path: Path, step: int):
    """A `ready` predicate: true once metrics.jsonl has a record for `step`."""

    def ready() -> bool:
        try:
            return f'"step": {step},' in metrics_path.read_text()
        except FileNotFoundError:
            return False

    return ready


__all__ = ["ROOT", "command", "env", "run", "run_until", "signal", "step_logged"]
