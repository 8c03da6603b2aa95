#!/usr/bin/env bash
# Run one experiment on a single NVIDIA GPU from the repository's .venv, with jax[cuda12], detached
# from the terminal (so a closed laptop or a dropped ssh connection does not stop it).
set -euo pipefail

LAUNCH_SCRIPT=gpu.sh
# shellcheck source=launch/common.sh
source "$(cd "${BASH_SOURCE[0]%/*}" && pwd)/common.sh"
LAUNCH_VENV=${LAUNCH_VENV:-$LAUNCH_ROOT/.venv}
LAUNCH_DETACH=1

# JAX preallocates 75% of GPU memory on first use. 0.9 lets bigger models and batches fit while
# leaving 10% for what allocates outside XLA's pool (the CUDA context, cuDNN and cuBLAS workspaces).
# Export a value to override it, or XLA_PYTHON_CLIENT_PREALLOCATE=false to share the GPU.
MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}

USAGE="usage: launch/gpu.sh [--dry-run] [--foreground] [run] <module> <config> <workdir> [flags...]
       launch/gpu.sh [--dry-run] logs|status|stop <workdir>

run (the default command) starts experiments/<module>.py on one NVIDIA GPU, detached:
  setsid nohup bash -c '<run, record pid and exit status>' \\
    env XLA_PYTHON_CLIENT_MEM_FRACTION=0.9 .venv/bin/python -m experiments.<module> \\
    --config=<config> --workdir=<workdir> [flags...] >>LOG 2>&1 </dev/null &
It survives the terminal or ssh session that started it. LOG is <workdir>/logs/<hostname>.log
(the workdir is created first); for a gs:// workdir, which cannot be appended to, it is
~/research-logs/gs/<bucket>/<path>/<hostname>.log.
The run's pid goes next to it, in <hostname>.pid, and its exit status, when it ends, in
<hostname>.exit; a second run in the same workdir is refused. A run that ends within
LAUNCH_START_WAIT seconds (default 2) with a non-zero status is reported with the log's last
lines, and gpu.sh exits 1.
Creates the virtualenv when it is missing and installs -e .[cuda] (jax[cuda12]) when the venv is
new or lacks the CUDA plugin; lists the GPUs with nvidia-smi -L before the run.
The memory fraction lets JAX preallocate 90% of GPU memory (default 75%); export
XLA_PYTHON_CLIENT_MEM_FRACTION to change it.

  logs <workdir>    follow the run's log (tail -F); Ctrl-C stops following, not the run
  status <workdir>  running or not (the pid file and kill -0) or the exit status it ended with, and
                    the last step: the last line of <workdir>/metrics.jsonl, or the log's last
                    progress line for a gs:// workdir; exits 1 when the run ended with a non-zero
                    (or unrecorded) status
  stop <workdir>    SIGTERM to the run: it saves a checkpoint at the next step boundary and exits 0;
                    run again with the same workdir to resume

  --foreground  run in this terminal instead (output to the terminal, Ctrl-C stops it)
  --detach      run detached (the default)
  --dry-run     print each command, one per line, and run nothing
  -h, --help    show this text

Environment: LAUNCH_VENV (default <repo>/.venv), LAUNCH_PYTHON (default python3),
             LAUNCH_START_WAIT (default 2).
Example: launch/gpu.sh run train_lm experiments/configs/lm/gpt_tiny.py runs/gpt_tiny
         launch/gpu.sh logs runs/gpt_tiny"

launch_parse_command "$@"
case $LAUNCH_COMMAND in
  logs | status | stop) "launch_$LAUNCH_COMMAND"; exit 0 ;;
esac

if ((!LAUNCH_DRY_RUN)) && ! command -v nvidia-smi >/dev/null; then
  launch_fail "nvidia-smi not found: gpu.sh needs an NVIDIA GPU machine with its driver;" \
    "use launch/local.sh elsewhere."
fi
launch_ensure_venv "[cuda]" "lib/python3*/site-packages/jax_cuda12_plugin"
launch_cmd nvidia-smi -L
launch_run env XLA_PYTHON_CLIENT_MEM_FRACTION="$MEM_FRACTION" "$LAUNCH_VENV/bin/python" \
  -m "$LAUNCH_MODULE" --config="$LAUNCH_CONFIG" --workdir="$LAUNCH_WORKDIR" "${LAUNCH_EXTRA[@]}"
if ((!LAUNCH_DRY_RUN)); then
  WORKDIR=$(launch_quote "$LAUNCH_WORKDIR")
  printf 'Follow it: launch/gpu.sh logs %s\n' "$WORKDIR"
  printf 'check it: launch/gpu.sh status %s\n' "$WORKDIR"
  printf 'stop it (checkpoint, then exit): launch/gpu.sh stop %s\n' "$WORKDIR"
fi
