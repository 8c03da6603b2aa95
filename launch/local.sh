#!/usr/bin/env bash
# Run one experiment on this machine (CPU, or whatever jax finds) from the repository's .venv.
set -euo pipefail

LAUNCH_SCRIPT=local.sh
# shellcheck source=launch/common.sh
source "$(cd "${BASH_SOURCE[0]%/*}" && pwd)/common.sh"
LAUNCH_VENV=${LAUNCH_VENV:-$LAUNCH_ROOT/.venv}

USAGE="usage: launch/local.sh [--dry-run] <module> <config> <workdir> [extra flags...]

Runs experiments/<module>.py on this machine:
  .venv/bin/python -m experiments.<module> --config=<config> --workdir=<workdir> [extra flags...]
Creates the virtualenv first when it is missing (python3 -m venv, then pip install -e .).
Extra flags go to the script unchanged, for example --config.<key>=<value>.

  --dry-run   print each command, one per line, and run nothing
  -h, --help  show this text

Environment: LAUNCH_VENV (default <repo>/.venv), LAUNCH_PYTHON (default python3).
Example: launch/local.sh train_lm experiments/configs/lm/gpt_tiny.py runs/gpt_tiny"

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

launch_ensure_venv ""
launch_exec "$LAUNCH_VENV/bin/python" -m "$LAUNCH_MODULE" --config="$LAUNCH_CONFIG" \
  --workdir="$LAUNCH_WORKDIR" "${LAUNCH_EXTRA[@]}"
