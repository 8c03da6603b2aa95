"""Entry scripts, their configs and benchmarks.

Started as `python -m experiments.<script>`, this package first restarts the interpreter with
glibc's transparent-huge-page tunable set, before the script imports anything: the CPU backend's
per-call temporaries then stop faulting in 4 KB pages one by one (the main job's step: ~780 ->
~670 ms on a 2-core CPU). See `research.train.host_memory`; setting `GLIBC_TUNABLES` yourself (to
anything, or to nothing) turns it off.

It then answers SIGTERM outside the training loop (while importing, building data, between stages,
writing results) with one line and exit status 0: nothing unsaved is lost there, and rerunning the
command continues. Inside the loop, the loop's own handler saves a checkpoint first
(`research.train.preemption`) and hands this one back when it ends. Imported (tests, notebooks),
the package changes no signal handling.
"""

import os
import signal
import sys

from research.train import host_memory

host_memory.relaunch_with_huge_pages()


def _stop_outside_training(signum, frame) -> None:
    print(
        "SIGTERM outside the training loop: stopped with nothing unsaved (finished stages keep "
        "their checkpoints); rerun the same command to continue.",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: its SystemExit is swallowed when the signal lands in a callback (a gc callback
    # of jaxlib's, say) and the run goes on. Everything the project writes outside the loop is
    # written whole or not at all (temporary file, then rename), so stopping here loses nothing.
    os._exit(0)


if sys.argv and sys.argv[0] == "-m":  # `python -m experiments.<script>`, not an import
    signal.signal(signal.SIGTERM, _stop_outside_training)
