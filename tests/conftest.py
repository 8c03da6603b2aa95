"""Test-wide setup, done before JAX or TFDS is first imported: 8 fake CPU devices, and a private
TFDS data directory so tests never read or write the user's ~/tensorflow_datasets."""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()
# One directory per pytest-xdist worker: workers inherit the controller's environment, and two
# workers preparing the same dataset in one directory race on TFDS's final rename (FileExistsError).
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker is not None or "TFDS_DATA_DIR" not in os.environ:
    prefix = f"research-tests-tfds-{_worker or 'main'}-"
    os.environ["TFDS_DATA_DIR"] = tempfile.mkdtemp(prefix=prefix)
# One persistent compilation cache for the whole run, shared by the xdist workers and the
# subprocesses tests start (they inherit the environment): many tests compile the same smoke-size
# train and eval steps. Measured: tests/experiments/train_lm*_test.py 133 s -> 117 s.
_own_cache = None  # the cache this process made (the controller's), removed when the run ends
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _own_cache = tempfile.mkdtemp(prefix="research-tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _own_cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")


def pytest_sessionfinish(session, exitstatus):
    if _own_cache is not None:  # after the workers: xdist finishes the controller last
        shutil.rmtree(_own_cache, ignore_errors=True)
