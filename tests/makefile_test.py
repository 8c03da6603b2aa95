"""Tests for the Makefile: what each README target would run (`make -n`, so nothing is installed)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


def planned(tmp_path, target: str) -> list[str]:
    """The commands `make <target>` would run for a venv that does not exist yet."""
    done = subprocess.run(
        # --no-print-directory: under `make test` (MAKELEVEL set) make would add "Entering
        # directory" lines around the plan.
        [MAKE, "--no-print-directory", "-n", target, f"VENV={tmp_path / 'venv'}", "PYTHON=python3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_install_puts_the_library_alone_into_the_venv(tmp_path):
    """The quick start had no install-only step: `make test` adds torch and the test extras."""
    venv = tmp_path / "venv"
    assert planned(tmp_path, "install") == [
        f"python3 -m venv {venv}",
        f"{venv}/bin/python -m pip install --quiet --upgrade pip",
        f"{venv}/bin/python -m pip install --quiet -e .",
        f"touch {venv}/.installed",
    ]


def test_test_still_installs_the_test_and_reference_extras(tmp_path):
    commands = planned(tmp_path, "test")
    assert any('-e ".[test,reference]"' in c for c in commands)
    assert commands[-1].endswith("-m pytest -q -n 2 --dist loadfile --durations=30")
