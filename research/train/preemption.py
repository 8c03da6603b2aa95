"""Preemption: on SIGTERM, save at the next step boundary and exit cleanly.

Without JAX's distributed runtime: a SIGTERM handler sets a flag that the loop polls at every step.
With it (after `jax.distributed.initialize`, as the launch scripts do, one host or many): JAX's
preemption notifier catches the signal, and `multihost_utils.reached_preemption_sync_point(step)`
(the sync point Orbax's preemption support is built on) makes every host agree on the same step.
The watcher is its only caller, at every step (see `checkpoint._LoopDrivenManager` for why).
"""

import signal
import threading

import jax
from absl import logging
from jax.experimental import multihost_utils


class PreemptionWatcher:
    def __init__(self):
        self._event = threading.Event()
        self._previous = None
        self.distributed = jax.distributed.is_initialized()
        if not self.distributed and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        logging.warning("SIGTERM received: saving a checkpoint at the next step boundary.")
        self._event.set()

    def reached(self, step: int) -> bool:
        """Whether to save and stop after `step`; called once per step, in increasing order."""
        if self.distributed:
            return multihost_utils.reached_preemption_sync_point(step)
        return self._event.is_set()

    def close(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
