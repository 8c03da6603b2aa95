"""What every entry script shares: its two flags, multi-host start, and errors as sentences.

An entry script is `main(config, workdir)` plus `entry.run(main)` under `if __name__ == "__main__"`.
`run` defines the only two flags, `--config` (an ml_collections config file, locked so a mistyped
`--config.<key>` is an error naming it) and `--workdir`; defining them there, not at import, lets
tests and notebooks import every experiment in one process. Errors about the user's input (a
ValueError raised by the project's own checks) are printed as one line and exit with status 1;
an unusable `--workdir` is refused that way before `main` starts, so no script writes first;
errors from inside libraries keep their traceback. Preemption exits 0 after its checkpoint is saved,
whether `main` returned the loop's preempted result or a stage raised `stages.StagePreempted`
(multi-stage experiments: no later stage started, no results written).
Host memory: started as `python -m experiments.<script>`, the `experiments` package has already
restarted the interpreter with huge pages for the CPU backend's per-call temporaries
(`research.train.host_memory`), before the script's own imports.
"""

import logging as std_logging
import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.stages import StagePreempted
from research.train import distributed
from research.train.loop import NonFiniteLossError
from research.train.workdir import check_usable

_PROJECT_DIRS = tuple(
    pathlib.Path(__file__).resolve().parents[1] / d for d in ("research", "experiments")
)


def _raised_by_project(error: BaseException) -> bool:
    """True when the innermost frame is the project's own input check, not a library's bug."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    filename = pathlib.Path(tb.tb_frame.f_code.co_filename)
    return any(filename.is_relative_to(d) for d in _PROJECT_DIRS)


class _LibraryInfoFilter:
    """Hides INFO lines from Orbax and TFDS so the progress lines stay readable (warnings pass)."""

    NOISY = ("/orbax/", "/tensorflow_datasets/", "/jax/_src/xla_bridge.py")

    def filter(self, record) -> bool:
        noisy = any(part in record.pathname for part in self.NOISY)
        return record.levelno >= std_logging.WARNING or not noisy


def run(main) -> None:
    """Parses `--config` and `--workdir` and calls `main(config, workdir)` (see the module doc)."""
    config_flag = config_flags.DEFINE_config_file(
        "config", None, "Experiment config file, optionally with ':arg'.", lock_config=True
    )
    workdir_flag = flags.DEFINE_string(
        "workdir", None, "Directory for checkpoints, metrics and logs."
    )
    flags.mark_flags_as_required(["config", "workdir"])

    def _main(argv):
        quiet = _LibraryInfoFilter()
        for handler in [
            *std_logging.getLogger().handlers,
            logging.get_absl_handler().python_handler,
        ]:
            handler.addFilter(quiet)
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments {argv[1:]}; use --config.<key>=<value>.")
        config = _loaded(config_flag)
        _check_workdir(workdir_flag.value)
        distributed.maybe_initialize()
        try:
            result = main(config, workdir_flag.value)
        except StagePreempted as e:
            logging.warning("%s", e)
            return
        except (ValueError, NonFiniteLossError) as e:
            if not _raised_by_project(e):
                raise  # a bug, not bad input: keep the traceback
            _refuse(str(e))  # once: not also as a log line (the launch scripts keep stderr)
        if result is not None and getattr(result, "preempted", False):
            logging.warning("Exiting after the preemption checkpoint.")

    app.run(_main, flags_parser=_parse_flags)


def _refuse(message: str) -> None:
    """Bad command-line input: one line on stderr, exit status 1, nothing written."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def _check_workdir(workdir: str) -> None:
    """Refuses an unusable --workdir (a file, read-only, not writable) before the script writes
    anything (a tokenizer, a prepared dataset), creating nothing: a refused run leaves no workdir."""
    try:
        check_usable(workdir)
    except ValueError as e:
        _refuse(str(e))


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an unloadable config, a bad config argument or value and a
    mistyped `--config.<key>` answered in one line instead of a traceback and the usage text."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:  # the config file raised, or a value did not parse
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        cause = f" ({lines[-1]})" if len(lines) > 1 else ""
        _refuse(f"{lines[0].rstrip(':')}{cause}; fix the flag and run again.")
    except KeyError as e:  # ml_collections: an override names a key the config does not have
        name, _, hint = str(e.args[0]).partition("\n")
        name = name.strip("'\"")
        given = [a.split("=")[0] for a in argv if a.startswith("--config.")]
        flag = next((a for a in given if name in a.split(".")), "a --config.<key> flag")
        _refuse(
            f"{flag} names no key of the config ({name!r} is not there{'; ' + hint if hint else ''}"
            "); see the config file for its keys."
        )


def _loaded(config_flag):
    """The parsed config, or a one-line refusal when its file could not be loaded (ml_collections
    defers that error to the first use of the config)."""
    config = config_flag.value
    try:
        config.keys()
    except OSError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        cause = next((line for line in lines if "Errno" in line), lines[-1])
        _refuse(f"Cannot load the --config file: {cause}; pass the path of a config file.")
    return config
