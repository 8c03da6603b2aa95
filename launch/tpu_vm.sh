#!/usr/bin/env bash
# Cloud TPU VM lifecycle with gcloud: create a VM (one host or a pod slice), copy the code to every
# worker, set up its virtualenv, run an experiment on all workers at once (detached from the ssh
# session, by launch/local.sh --detach on each worker), follow, check or stop it, fetch, delete.
set -euo pipefail

LAUNCH_SCRIPT=tpu_vm.sh
# shellcheck source=launch/common.sh
source "$(cd "${BASH_SOURCE[0]%/*}" && pwd)/common.sh"

NAME=${TPU_NAME:-}
ZONE=${TPU_ZONE:-}
PROJECT=${TPU_PROJECT:-}
TYPE=${TPU_TYPE:-v5litepod-8}
VERSION=${TPU_VERSION:-v2-alpha-tpuv5-lite}
SPOT=${TPU_SPOT:-0}
DIR=${TPU_DIR:-research}
PYTHON_VERSION=${TPU_PYTHON:-3.12}
WORKER=${TPU_WORKER:-0}

USAGE="usage: launch/tpu_vm.sh [options] <command> [arguments]

Commands, in the order of a session:
  create    gcloud compute tpus tpu-vm create NAME --zone --accelerator-type --version [--spot]
  sync      copy the code (git ls-files: tracked and untracked files, without .venv, runs, .git,
            caches) to DIR on every worker; files deleted here stay there until you remove them
  setup     on every worker: a venv in DIR/.venv with Python 3.12 (made with uv, since the TPU
            images ship Python 3.10) and uv pip install -e .[tpu]; run sync first
  run <module> <config> <workdir> [extra flags...]
            on every worker, detached from the ssh session (a dropped connection does not stop it):
              cd DIR && RESEARCH_DISTRIBUTED=1 bash launch/local.sh --detach run <module> \\
                <config> <workdir> [extra flags...]
            which starts setsid nohup .venv/bin/python -m experiments.<module> --config=<config>
            --workdir=<workdir> [extra flags...] with its output appended to the worker's log:
            <workdir>/logs/<hostname>.log for a workdir on the VM's disk (relative to DIR),
            ~/research-logs/gs/<bucket>/<path>/<hostname>.log for a gs:// one; the pid goes next to
            it in <hostname>.pid. <config> is relative to DIR. On a pod slice every worker
            writes to <workdir>: use a gs://bucket/path workdir so checkpoints and metrics land in
            one place.
  logs <workdir>
            follow the run's log on worker 0 (--worker picks another): tail -F; Ctrl-C stops
            following, not the run
  status <workdir>
            on every worker: whether the run goes (its pid file and kill -0) and its last step
            (the last line of <workdir>/metrics.jsonl, or the log's last progress line for gs://)
  stop <workdir>
            on every worker: SIGTERM to the run, which saves a checkpoint at the next step boundary
            and exits 0; run again with the same workdir to resume
  fetch <workdir>
            copy a workdir that is a path on the VM (relative paths are under DIR) from worker 0
            (or --worker) to <repo>/runs/NAME/; for gs:// workdirs use gcloud storage cp --recursive
  delete    gcloud compute tpus tpu-vm delete NAME --quiet

Options (flag, or environment variable):
  --name NAME        TPU_NAME     the TPU VM's name (required)
  --zone ZONE        TPU_ZONE     for example us-west4-a (required)
  --project PROJECT  TPU_PROJECT  adds --project to every gcloud command (default: gcloud's)
  --type TYPE        TPU_TYPE     accelerator type (default v5litepod-8)
  --version VERSION  TPU_VERSION  TPU runtime (default v2-alpha-tpuv5-lite; v6e: v2-alpha-tpuv6e,
                                  v5p: v2-alpha-tpuv5, v4: tpu-ubuntu2204-base)
  --spot             TPU_SPOT=1   create a Spot VM (cheaper, can be preempted)
  --dir DIR          TPU_DIR      code directory on the workers, relative to home (default research)
  --python VERSION   TPU_PYTHON   Python for the workers' venv (default 3.12)
  --worker WORKER    TPU_WORKER   the worker that logs and fetch use (default 0)
  --dry-run                       print each command, one per line, and run nothing
  -h, --help                      show this text
Options come before the run arguments; everything after <module> goes to the experiment.

Example:
  export TPU_NAME=lm TPU_ZONE=us-west4-a
  launch/tpu_vm.sh create --spot && launch/tpu_vm.sh sync && launch/tpu_vm.sh setup
  launch/tpu_vm.sh run train_lm experiments/configs/lm/gpt_tiny.py gs://my-bucket/runs/gpt_tiny
  launch/tpu_vm.sh logs gs://my-bucket/runs/gpt_tiny
  launch/tpu_vm.sh delete"

set_option() { # set_option OPTION VALUE
  case $1 in
    --name) NAME=$2 ;;
    --zone) ZONE=$2 ;;
    --project) PROJECT=$2 ;;
    --type) TYPE=$2 ;;
    --version) VERSION=$2 ;;
    --dir) DIR=$2 ;;
    --python) PYTHON_VERSION=$2 ;;
    --worker) WORKER=$2 ;;
  esac
}

COMMAND=""
ARGS=()
while (($#)); do
  case $1 in
    -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
    --dry-run) LAUNCH_DRY_RUN=1 ;;
    --spot) SPOT=1 ;;
    --name=* | --zone=* | --project=* | --type=* | --version=* | --dir=* | --python=* | --worker=*)
      set_option "${1%%=*}" "${1#*=}" ;;
    --name | --zone | --project | --type | --version | --dir | --python | --worker)
      (($# >= 2)) || launch_die "option $1 needs a value, for example $1 VALUE."
      set_option "$1" "$2"
      shift ;;
    --) shift; ARGS=("$@"); break ;;
    -*) launch_die "unknown option '$1'; see launch/tpu_vm.sh --help." ;;
    *)
      if [[ -z $COMMAND ]]; then
        COMMAND=$1
      else
        ARGS=("$@")
        break
      fi ;;
  esac
  shift
done

case $COMMAND in
  create | sync | setup | delete)
    ((${#ARGS[@]} == 0)) ||
      launch_die "'$COMMAND' takes no arguments but got '${ARGS[0]}'; see --help." ;;
  run) launch_parse_experiment "${ARGS[@]}" ;;
  fetch)
    ((${#ARGS[@]} == 1)) || launch_die "'fetch' takes exactly one argument, the workdir to copy." ;;
  logs | status | stop)
    ((${#ARGS[@]} == 1)) && [[ -n ${ARGS[0]} ]] ||
      launch_die "'$COMMAND' takes exactly one argument, the run's workdir; see --help." ;;
  "")
    launch_die "missing command: pass one of create, sync, setup, run, logs, status, stop, fetch," \
      "delete." ;;
  *)
    launch_die "unknown command '$COMMAND': expected one of create, sync, setup, run, logs," \
      "status, stop, fetch, delete." ;;
esac
if [[ -z $NAME ]]; then
  launch_die "missing --name: pass --name NAME or set TPU_NAME to the TPU VM's name."
fi
if [[ -z $ZONE ]]; then
  launch_die "missing --zone: pass --zone ZONE or set TPU_ZONE, for example us-west4-a."
fi
if ((!LAUNCH_DRY_RUN)) && ! command -v gcloud >/dev/null; then
  launch_fail "gcloud not found: install the Google Cloud CLI" \
    "(https://cloud.google.com/sdk/docs/install) and run gcloud auth login."
fi

TPU=(gcloud compute tpus tpu-vm)
WHERE=(--zone="$ZONE")
if [[ -n $PROJECT ]]; then
  WHERE+=(--project="$PROJECT")
fi
QDIR=$(launch_quote "$DIR")

case $COMMAND in
  create)
    SPOT_FLAG=()
    if [[ $SPOT == 1 ]]; then
      SPOT_FLAG=(--spot)
    fi
    launch_cmd "${TPU[@]}" create "$NAME" "${WHERE[@]}" --accelerator-type="$TYPE" \
      --version="$VERSION" "${SPOT_FLAG[@]}"
    ;;
  sync)
    # One tarball instead of scp --recurse: it leaves out .venv, runs and .git, and the workers
    # unpack it in one step each.
    TARBALL=${TMPDIR:-/tmp}/research-sync-$NAME.tar.gz
    LIST=(git -C "$LAUNCH_ROOT" ls-files -z --cached --others --exclude-standard -- .
      ':(exclude).venv' ':(exclude)runs' ':(exclude)*.egg-info/*' ':(exclude)*__pycache__/*')
    PACK=(tar -C "$LAUNCH_ROOT" --null -T - -czf "$TARBALL")
    launch_shell "$(launch_join "${LIST[@]}") | $(launch_join "${PACK[@]}")"
    launch_cmd "${TPU[@]}" scp "$TARBALL" "$NAME:research-sync.tar.gz" "${WHERE[@]}" --worker=all
    UNPACK="mkdir -p $QDIR && tar -xzf research-sync.tar.gz -C $QDIR && rm research-sync.tar.gz"
    launch_cmd "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all --command="$UNPACK"
    launch_cmd rm -f "$TARBALL"
    ;;
  setup)
    # The TPU images ship Python 3.10 and jax needs 3.11+, so uv (from PyPI) fetches a newer
    # Python. PIP_BREAK_SYSTEM_PACKAGES lets --user installs through on images that mark the system
    # Python as externally managed; older pips ignore it.
    MAKE_VENV="python3 -m uv venv --seed --python $(launch_quote "$PYTHON_VERSION") .venv"
    SETUP="cd $QDIR && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --user --quiet uv"
    SETUP+=" && { [ -x .venv/bin/python ] || $MAKE_VENV; }"
    SETUP+=' && python3 -m uv pip install --python .venv/bin/python -e ".[tpu]"'
    launch_cmd "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all --command="$SETUP"
    ;;
  run)
    # local.sh on each worker does the detaching, so that the log, pid file and the status and
    # stop commands are one implementation. Without setup's venv, it would make one with the
    # image's Python 3.10, hence the check.
    LOCAL=(bash launch/local.sh --detach run "$LAUNCH_MODULE" "$LAUNCH_CONFIG" "$LAUNCH_WORKDIR"
      "${LAUNCH_EXTRA[@]}")
    RUN="cd $QDIR && if [ ! -x .venv/bin/python ]; then"
    # shellcheck disable=SC2016  # $PWD is the worker's
    RUN+=' echo "no .venv in $PWD: run launch/tpu_vm.sh setup first." >&2; exit 1; fi'
    RUN+=" && RESEARCH_DISTRIBUTED=1 $(launch_join "${LOCAL[@]}")"
    launch_cmd "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all --command="$RUN"
    if ((!LAUNCH_DRY_RUN)); then
      WORKDIR=$(launch_quote "$LAUNCH_WORKDIR")
      printf 'Follow worker 0: launch/tpu_vm.sh logs %s\n' "$WORKDIR"
      printf 'check every worker: launch/tpu_vm.sh status %s\n' "$WORKDIR"
      printf 'stop it (checkpoint, then exit): launch/tpu_vm.sh stop %s\n' "$WORKDIR"
    fi
    ;;
  logs)
    # -t: a terminal on the worker, so that Ctrl-C here ends tail there.
    launch_exec "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker="$WORKER" --ssh-flag=-t \
      --command="cd $QDIR && $(launch_join bash launch/local.sh logs "${ARGS[0]}")"
    ;;
  status | stop)
    launch_cmd "${TPU[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all \
      --command="cd $QDIR && $(launch_join bash launch/local.sh "$COMMAND" "${ARGS[0]}")"
    ;;
  fetch)
    WORKDIR=${ARGS[0]%/}
    if [[ $WORKDIR == gs://* ]]; then
      launch_die "workdir '$WORKDIR' is in Cloud Storage, not on the VM: copy it with" \
        "gcloud storage cp --recursive '$WORKDIR' runs/."
    fi
    if [[ $WORKDIR != /* && $WORKDIR != '~'* ]]; then
      WORKDIR=$DIR/$WORKDIR # run does cd DIR, so relative workdirs live under it
    fi
    DEST=$LAUNCH_ROOT/runs/$NAME
    launch_cmd mkdir -p "$DEST"
    launch_cmd "${TPU[@]}" scp --recurse "$NAME:$WORKDIR" "$DEST" "${WHERE[@]}" --worker="$WORKER"
    ;;
  delete)
    launch_cmd "${TPU[@]}" delete "$NAME" "${WHERE[@]}" --quiet
    ;;
esac
