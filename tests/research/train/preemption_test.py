"""Tests for research/train/preemption.py: SIGTERM in-process, and JAX's multi-host sync point."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import jax

from research.train.preemption import PreemptionWatcher
from tests.experiments.run_experiment import ROOT, env


def test_sigterm_sets_the_flag_and_close_restores_the_handler():
    assert not jax.distributed.is_initialized()
    before = signal.getsignal(signal.SIGTERM)
    watcher = PreemptionWatcher()
    try:
        assert not watcher.distributed
        assert signal.getsignal(signal.SIGTERM) is not before
        assert not watcher.reached(1)
        os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler before the next bytecode
        assert watcher.reached(2) and watcher.reached(3)  # stays set
    finally:
        watcher.close()
    assert signal.getsignal(signal.SIGTERM) is before
    watcher.close()  # idempotent
    assert signal.getsignal(signal.SIGTERM) is before


def test_watcher_built_off_the_main_thread_installs_no_handler():
    before = signal.getsignal(signal.SIGTERM)
    built = []
    thread = threading.Thread(target=lambda: built.append(PreemptionWatcher()))
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is before
    assert not built[0].reached(1)
    built[0].close()
    assert signal.getsignal(signal.SIGTERM) is before


# After `jax.distributed.initialize`, JAX's preemption notifier owns SIGTERM, and the sync point is
# "the last step passed to reached_preemption_sync_point, plus one". A stock Orbax manager calls
# that function from its async save finalizer with the checkpoint's step, moving the counter back;
# the Checkpointer's manager must not, or the sync point lands on a step the loop already passed.
_SYNC_SCRIPT = textwrap.dedent(
    """
    import os, signal, socket, sys, threading, time
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    import jax, jax.numpy as jnp
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=1, process_id=0)
    from research.train.checkpoint import Checkpointer
    from research.train.preemption import PreemptionWatcher
    ckpt = Checkpointer(sys.argv[1], max_to_keep=3, async_save=True)
    watcher = PreemptionWatcher()
    assert watcher.distributed
    for step in range(1, 11):
        assert not watcher.reached(step)
    # A big checkpoint finalizes while training goes on; hold the finalizer until step 12 so the
    # order is the same in every run.
    training_went_on = threading.Event()
    finalize = ckpt._manager._finalize_checkpoint
    ckpt._manager._finalize_checkpoint = lambda step: (training_went_on.wait(), finalize(step))
    if sys.argv[2] == "save":
        ckpt.save(10, {"w": jnp.arange(4.0)}, {"i": 10})  # as the loop does at a checkpoint step
    for step in (11, 12):
        assert not watcher.reached(step)
    training_went_on.set()
    ckpt.wait()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(2.0)  # the sync protocol runs on JAX's thread
    hit = next((step for step in range(13, 40) if watcher.reached(step)), None)
    print("PREEMPTED_AT", hit, flush=True)
    watcher.close(); ckpt.close()
    """
)


def _preempted_at(tmp_path, mode: str) -> str:
    script = tmp_path / "sync.py"
    script.write_text(_SYNC_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ckpt"), mode],
        cwd=ROOT,
        env={**env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split("PREEMPTED_AT")[-1].strip()


def test_distributed_sigterm_reaches_the_sync_point_at_the_next_step(tmp_path):
    assert _preempted_at(tmp_path, "no-save") == "13"


def test_distributed_sigterm_after_an_async_save_is_still_acted_on(tmp_path):
    assert _preempted_at(tmp_path, "save") == "13"
