"""What every entry script shares: the `--workdir` flag, multi-host start, and errors as sentences.

An entry script defines `--config` (a config file) and calls `run(main, config_flag)`; `main(config,
workdir)` does the work. Errors about the user's input (ValueError and friends) are printed as one
line and exit with status 1 instead of a traceback; preemption exits 0 after its checkpoint is saved.
"""

import logging as std_logging
import pathlib
import sys

from absl import app, flags, logging

from research.train import distributed
from research.train.loop import NonFiniteLossError

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and logs.")
flags.mark_flag_as_required("workdir")
_PACKAGES = ("research", "experiments")


_PROJECT_DIRS = tuple(str(pathlib.Path(__file__).resolve().parents[1] / d) for d in _PACKAGES)


def _raised_by_project(error: BaseException) -> bool:
    """True when the innermost frame is the project's own input check, not a library's bug."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PROJECT_DIRS)


class _LibraryInfoFilter:
    """Hides INFO lines from Orbax and TFDS so the progress lines stay readable (warnings pass)."""

    NOISY = ("/orbax/", "/tensorflow_datasets/", "/jax/_src/xla_bridge.py")

    def filter(self, record) -> bool:
        noisy = any(part in record.pathname for part in self.NOISY)
        return record.levelno >= std_logging.WARNING or not noisy


def run(main, config_flag) -> None:
    def _main(argv):
        quiet = _LibraryInfoFilter()
        for handler in [
            *std_logging.getLogger().handlers,
            logging.get_absl_handler().python_handler,
        ]:
            handler.addFilter(quiet)
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments {argv[1:]}; use --config.<key>=<value>.")
        distributed.maybe_initialize()
        try:
            result = main(config_flag.value, _WORKDIR.value)
        except (ValueError, NonFiniteLossError) as e:
            if not _raised_by_project(e):
                raise  # a bug, not bad input: keep the traceback
            logging.error("%s", e)
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        if result is not None and getattr(result, "preempted", False):
            logging.warning("Exiting after the preemption checkpoint.")

    app.run(_main)
