"""One run per workdir: an exclusive `fcntl.flock` on `<workdir>/run.lock`, held for the whole run.

Two runs writing one workdir would interleave checkpoints and metrics; the second is refused with a
ValueError naming the first (pid, host, start time, command line), which the holder writes into the
lock file. The kernel releases a flock when its process dies, SIGKILL included, so a crashed run
never leaves a stale lock; its details stay in the file until the next holder overwrites them.

Local paths only: on gs:// and other URIs there is no lock (one INFO line says so). In a multi-host
run only process 0 takes it (the other processes write only checkpoint shards).
"""

import datetime
import fcntl
import json
import os
import shlex
import socket
import sys

import jax
from absl import logging

LOCK_NAME = "run.lock"


class WorkdirLock:
    """A held lock; `release()` frees it (idempotent). Also a context manager."""

    def __init__(self, fd: int, path: str):
        self._fd, self.path = fd, path

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # no holder any more
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
    }


def _describe(raw: bytes) -> str:
    try:
        h = json.loads(raw)
        return f"pid {h['pid']} on {h['host']}, started {h['started']}: {h['command']}"
    except (ValueError, KeyError, TypeError):
        return "its details are not written yet"


def acquire(workdir) -> WorkdirLock | None:
    """Takes the workdir's lock or raises ValueError naming the run that holds it.

    Returns None where no lock is taken: URIs (gs://...) and processes other than 0.
    """
    if "://" in str(workdir):
        logging.info(
            "The workdir %s is not a local path, so it is not locked; start one run per workdir.",
            workdir,
        )
        return None
    if jax.process_index() != 0:
        return None
    path = os.path.join(os.fspath(workdir), LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's details stay
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(os.pread(fd, 1 << 16, 0))
        os.close(fd)
        raise ValueError(
            f"The workdir {workdir} is in use by another run ({holder}); wait for it to end or "
            "stop it, or choose another --workdir."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(_holder()) + "\n").encode(), 0)
    os.fsync(fd)
    return WorkdirLock(fd, path)
