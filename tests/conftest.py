"""Test-wide setup, done before JAX or TFDS is first imported: 8 fake CPU devices, and a private
TFDS data directory so tests never read or write the user's ~/tensorflow_datasets."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TFDS_DATA_DIR", tempfile.mkdtemp(prefix="research-tests-tfds-"))
