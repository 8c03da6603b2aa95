#!/usr/bin/env bash
# Run one experiment on this machine (CPU, or whatever jax finds) from the repository's .venv, in
# the foreground or (--detach) in the background with a log; tpu_vm.sh runs it on every TPU worker.
set -euo pipefail

LAUNCH_SCRIPT=local.sh
# shellcheck source=launch/common.sh
source "$(cd "${BASH_SOURCE[0]%/*}" && pwd)/common.sh"
LAUNCH_VENV=${LAUNCH_VENV:-$LAUNCH_ROOT/.venv}

USAGE="usage: launch/local.sh [--dry-run] [--detach] [run] <module> <config> <workdir> [flags...]
       launch/local.sh [--dry-run] logs|status|stop <workdir>

run (the default command) runs experiments/<module>.py on this machine, in the foreground:
  .venv/bin/python -m experiments.<module> --config=<config> --workdir=<workdir> [flags...]
Creates the virtualenv first when it is missing (python3 -m venv, then pip install -e .).
Extra flags go to the script unchanged, for example --config.<key>=<value>.
With --detach it starts the same command detached from this terminal (it survives closing it):
  setsid nohup bash -c '<run, record pid and exit status>' \\
    .venv/bin/python ... >>LOG 2>&1 </dev/null &
LOG is <workdir>/logs/<hostname>.log (the workdir is created first); for a gs:// workdir,
~/research-logs/gs/<bucket>/<path>/<hostname>.log. The pid goes next to it, in <hostname>.pid,
and the run's exit status, when it ends, in <hostname>.exit; a second run in the same workdir is
refused. A run that ends within LAUNCH_START_WAIT seconds (default 2) with a non-zero status (a
mistyped module, config or flag) is reported with the log's last lines, and local.sh exits 1.
setsid comes with util-linux (not on macOS).

  logs <workdir>    follow the run's log (tail -F); Ctrl-C stops following, not the run
  status <workdir>  running or not (the pid file and kill -0) or the exit status it ended with, and
                    the last step: the last line of <workdir>/metrics.jsonl, or the log's last
                    progress line for a gs:// workdir; exits 1 when the run ended with a non-zero
                    (or unrecorded) status
  stop <workdir>    SIGTERM to the run: it saves a checkpoint at the next step boundary and exits 0;
                    run again with the same workdir to resume

  --detach      run detached, with a log
  --foreground  run in this terminal (the default)
  --dry-run     print each command, one per line, and run nothing
  -h, --help    show this text

Environment: LAUNCH_VENV (default <repo>/.venv), LAUNCH_PYTHON (default python3),
             LAUNCH_START_WAIT (default 2).
Example: launch/local.sh train_lm experiments/configs/lm/gpt_tiny.py runs/gpt_tiny"

launch_parse_command "$@"
case $LAUNCH_COMMAND in
  logs | status | stop) "launch_$LAUNCH_COMMAND"; exit 0 ;;
esac

launch_ensure_venv ""
launch_run "$LAUNCH_VENV/bin/python" -m "$LAUNCH_MODULE" --config="$LAUNCH_CONFIG" \
  --workdir="$LAUNCH_WORKDIR" "${LAUNCH_EXTRA[@]}"
