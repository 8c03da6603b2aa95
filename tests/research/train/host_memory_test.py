"""relaunch_with_huge_pages: a `python -m experiments...` start restarts itself with glibc's huge-page
tunable, and the CPU backend's per-call temporaries then fault far fewer pages."""

import json
import os
import subprocess
import sys

import pytest

from research.train import host_memory

# Pretends to be a `python -m` start (argv[0] is '-m' while Python imports the package), imports
# `experiments` (which relaunches this very command with the tunable set), then calls a jitted
# function with 50 MB of temporaries and reports the minor page faults per call.
_PROGRAM = """
import json, os, resource, sys
sys.argv[0] = "-m"
import experiments
import jax, jax.numpy as jnp

@jax.jit
def f(x):  # x [2048, 2048]: several 16 MB temporaries live at once
    y = jnp.sin(x)
    z = y @ y.T
    return jnp.sum(jnp.cos(z) * y.T), jnp.sum(z)

x = jnp.ones((2048, 2048))
for _ in range(3):
    jax.block_until_ready(f(x))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    jax.block_until_ready(f(x))
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
json.dump({"tunables": os.environ.get("GLIBC_TUNABLES"), "faults_per_call": faults}, sys.stdout)
"""

# Under pytest nothing relaunches: these say whether a real `python -m` start would.
_CAN_RELAUNCH = (
    host_memory._glibc_with_hugetlb_tunable() and host_memory._transparent_huge_pages_allowed()
)


def _run(**env_overrides) -> dict:
    # One CPU device (tests/conftest.py asks for 8), and no malloc settings of the caller's.
    dropped = ("GLIBC_TUNABLES", "XLA_FLAGS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(JAX_PLATFORMS="cpu", **env_overrides)
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _CAN_RELAUNCH, reason="needs glibc >= 2.35 and transparent huge pages")
def test_relaunched_start_faults_far_fewer_pages_than_glibc_defaults():
    relaunched = _run()
    assert relaunched["tunables"] == host_memory.TUNABLE
    default = _run(GLIBC_TUNABLES="")  # set by the user (even empty): left alone, no relaunch
    assert default["tunables"] == ""
    # 50 MB of temporaries in 4 KB pages is ~12,000 faults a call; in 2 MB pages, a few dozen.
    assert default["faults_per_call"] > 10_000
    assert relaunched["faults_per_call"] < default["faults_per_call"] / 4


def test_relaunch_command_only_for_python_dash_m_starts_without_user_tunables():
    orig_argv = ["/usr/bin/python3", "-X", "utf8", "-m", "experiments.train_lm", "--workdir=/w"]
    command = host_memory.relaunch_command(["-m", "--workdir=/w"], orig_argv, {"HOME": "/h"})
    if not _CAN_RELAUNCH:
        assert command is None
        return
    arguments, environment = command
    assert arguments == [sys.executable, "-X", "utf8", "-m", "experiments.train_lm", "--workdir=/w"]
    assert environment == {"HOME": "/h", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert host_memory.huge_pages_active(environment)
    # Imported (tests, notebooks, `python -c`), or the user's own tunables: no restart.
    assert host_memory.relaunch_command(["-c"], orig_argv, {}) is None
    assert host_memory.relaunch_command(["/x/train_lm.py"], orig_argv, {}) is None
    assert host_memory.relaunch_command(["-m"], orig_argv, {"GLIBC_TUNABLES": ""}) is None


def test_transparent_huge_pages_setting_is_read_from_the_kernel_file(tmp_path):
    setting = tmp_path / "enabled"
    for text, allowed in [
        ("always [madvise] never\n", True),
        ("[always] madvise never\n", True),
        ("always madvise [never]\n", False),
    ]:
        setting.write_text(text)
        assert host_memory._transparent_huge_pages_allowed(str(setting)) is allowed
    assert host_memory._transparent_huge_pages_allowed(str(tmp_path / "missing")) is False
