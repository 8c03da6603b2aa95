"""Importing the reference implementations (PyTorch, Hugging Face transformers) in tests.

Outside CI a missing package skips the parity test, so the suite runs on a machine without them.
Under CI (`CI=true`, set by `.ci/run`) a missing reference is a failure: a parity test that
silently skips checks nothing.
"""

import importlib
import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def import_reference(name: str):
    """The module `name`; a skip when it is missing outside CI, an ImportError under CI."""
    if in_ci():
        return importlib.import_module(name)
    return pytest.importorskip(name)
