#!/usr/bin/env bash
# Run one experiment on a single NVIDIA GPU from the repository's .venv, with jax[cuda12].
set -euo pipefail

LAUNCH_SCRIPT=gpu.sh
# shellcheck source=launch/common.sh
source "$(cd "${BASH_SOURCE[0]%/*}" && pwd)/common.sh"
LAUNCH_VENV=${LAUNCH_VENV:-$LAUNCH_ROOT/.venv}

# JAX preallocates 75% of GPU memory on first use. 0.9 lets bigger models and batches fit while
# leaving 10% for what allocates outside XLA's pool (the CUDA context, cuDNN and cuBLAS workspaces).
# Export a value to override it, or XLA_PYTHON_CLIENT_PREALLOCATE=false to share the GPU.
MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}

USAGE="usage: launch/gpu.sh [--dry-run] <module> <config> <workdir> [extra flags...]

Runs experiments/<module>.py on one NVIDIA GPU:
  XLA_PYTHON_CLIENT_MEM_FRACTION=0.9 .venv/bin/python -m experiments.<module> \\
    --config=<config> --workdir=<workdir> [extra flags...]
Creates the virtualenv when it is missing and installs -e .[cuda] (jax[cuda12]) when the venv is
new or lacks the CUDA plugin; lists the GPUs with nvidia-smi -L before the run.
The memory fraction lets JAX preallocate 90% of GPU memory (default 75%); export
XLA_PYTHON_CLIENT_MEM_FRACTION to change it.

  --dry-run   print each command, one per line, and run nothing
  -h, --help  show this text

Environment: LAUNCH_VENV (default <repo>/.venv), LAUNCH_PYTHON (default python3).
Example: launch/gpu.sh train_lm experiments/configs/lm/gpt_tiny.py runs/gpt_tiny"

while (($#)); do
  case $1 in
    -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
    --dry-run) LAUNCH_DRY_RUN=1 ;;
    --) shift; break ;;
    -*) launch_die "unknown option '$1': options (--dry-run, --help) come before <module>." ;;
    *) break ;;
  esac
  shift
done
launch_parse_experiment "$@"

if ((!LAUNCH_DRY_RUN)) && ! command -v nvidia-smi >/dev/null; then
  launch_fail "nvidia-smi not found: gpu.sh needs an NVIDIA GPU machine with its driver;" \
    "use launch/local.sh elsewhere."
fi
launch_ensure_venv "[cuda]" "lib/python3*/site-packages/jax_cuda12_plugin"
launch_cmd nvidia-smi -L
launch_exec env XLA_PYTHON_CLIENT_MEM_FRACTION="$MEM_FRACTION" "$LAUNCH_VENV/bin/python" \
  -m "$LAUNCH_MODULE" --config="$LAUNCH_CONFIG" --workdir="$LAUNCH_WORKDIR" "${LAUNCH_EXTRA[@]}"
