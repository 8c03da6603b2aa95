# shellcheck shell=bash
# Shared by launch/*.sh (sourced, never run): print-or-run, errors, experiment arguments, the venv,
# and detached runs (a log and a pid file per host, and the logs / status / stop commands on them).
#
# Everything on the --dry-run path uses shell builtins only, so a dry run executes no program at all
# (tests/launch/launch_test.py checks this by running it with an empty PATH).

if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404)); then
  printf 'launch/*.sh need bash 4.4 or newer, found %s (macOS: brew install bash).\n' \
    "$BASH_VERSION" >&2
  exit 1
fi

LAUNCH_DRY_RUN=0
LAUNCH_DETACH=0
LAUNCH_ROOT=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)  # the repository root, whatever the caller's cwd

# launch_die WORDS...: the words, one sentence, to stderr, then exit 2 (bad usage).
launch_die() {
  printf '%s: %s\n' "$LAUNCH_SCRIPT" "$*" >&2
  exit 2
}

# launch_fail WORDS...: the same with exit status 1, for what is missing on this machine.
launch_fail() {
  printf '%s: %s\n' "$LAUNCH_SCRIPT" "$*" >&2
  exit 1
}

# launch_quote WORD: WORD as one shell word; single quotes only when it needs them, and around the
# value alone in --flag=value, so printed commands stay readable and paste back into a shell as is.
launch_quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
    printf '%s' "$1"
  elif [[ $1 =~ ^(--?[A-Za-z0-9_.-]+=)(.*)$ ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
    launch_quote "${BASH_REMATCH[2]}"
  else
    printf "'%s'" "${1//"'"/"'\\''"}"
  fi
}

# launch_join WORD...: the words quoted and joined by single spaces.
launch_join() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(launch_quote "$word")"
  done
  printf '%s' "$out"
}

# launch_cmd PROGRAM ARG...: print the command (dry run) or echo it to stderr and run it.
launch_cmd() {
  if ((LAUNCH_DRY_RUN)); then
    printf '%s\n' "$(launch_join "$@")"
    return 0
  fi
  printf '+ %s\n' "$(launch_join "$@")" >&2
  "$@"
}

# launch_exec PROGRAM ARG...: like launch_cmd, but the program replaces this shell, so signals
# (SIGTERM on preemption, Ctrl-C) reach it directly.
launch_exec() {
  if ((LAUNCH_DRY_RUN)); then
    launch_cmd "$@"
    return 0
  fi
  printf '+ %s\n' "$(launch_join "$@")" >&2
  exec "$@"
}

# launch_shell LINE: the same for a shell line that needs a pipe (LINE is already quoted).
launch_shell() {
  if ((LAUNCH_DRY_RUN)); then
    printf '%s\n' "$1"
    return 0
  fi
  printf '+ %s\n' "$1" >&2
  eval "$1"
}

# launch_parse_experiment MODULE CONFIG WORKDIR [EXTRA...]: sets LAUNCH_MODULE (with the
# 'experiments.' prefix), LAUNCH_CONFIG, LAUNCH_WORKDIR and the array LAUNCH_EXTRA.
# shellcheck disable=SC2034  # the variables are read by the scripts that source this file
launch_parse_experiment() {
  (($# >= 3)) ||
    launch_die "expected <module> <config> <workdir> [extra flags...], got $# argument(s);" \
      "see --help."
  local module=${1#experiments.}
  [[ $module =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$ ]] ||
    launch_die "module '$1' is not a Python module name: pass the script's name under" \
      "experiments/, for example train_lm."
  [[ -n $2 && -n $3 ]] || launch_die "<config> and <workdir> must not be empty; see --help."
  LAUNCH_MODULE=experiments.$module
  LAUNCH_CONFIG=$2
  LAUNCH_WORKDIR=$3
  LAUNCH_EXTRA=("${@:4}")
}

# launch_ensure_venv EXTRAS [PROOF]: create the venv at LAUNCH_VENV when it is missing, and
# `pip install -e ROOT<EXTRAS>` into it when it was just made or when no file matches the glob PROOF
# (relative to the venv), which tells an existing CPU-only venv from one with the extras.
launch_ensure_venv() {
  local fresh=0
  if [[ ! -x $LAUNCH_VENV/bin/python ]]; then
    launch_cmd "${LAUNCH_PYTHON:-python3}" -m venv "$LAUNCH_VENV"
    fresh=1
  fi
  if ((fresh)) || { [[ -n ${2:-} ]] && ! compgen -G "$LAUNCH_VENV/$2" >/dev/null; }; then
    launch_cmd "$LAUNCH_VENV/bin/pip" install -e "$LAUNCH_ROOT$1"
  fi
}

# launch_parse_command ARG...: the command line of local.sh and gpu.sh (see their $USAGE):
#   [options] [run] <module> <config> <workdir> [extra flags...]
#   [options] logs|status|stop <workdir>
# Sets LAUNCH_COMMAND, LAUNCH_DETACH (--detach / --foreground; the caller sets the default), the
# experiment (launch_parse_experiment) for run, and the run's files (launch_run_files).
launch_parse_command() {
  LAUNCH_COMMAND=""
  while (($#)); do
    case $1 in
      -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
      --dry-run) LAUNCH_DRY_RUN=1 ;;
      --detach) LAUNCH_DETACH=1 ;;
      --foreground) LAUNCH_DETACH=0 ;;
      --) shift; break ;;
      -*)
        launch_die "unknown option '$1': the options are --dry-run, --detach, --foreground and" \
          "--help, before <module>." ;;
      run | logs | status | stop)
        [[ -z $LAUNCH_COMMAND ]] || break # a second one is the module's name
        LAUNCH_COMMAND=$1 ;;
      *) break ;;
    esac
    shift
  done
  if [[ ${LAUNCH_COMMAND:=run} == run ]]; then
    launch_parse_experiment "$@"
  elif (($# != 1)) || [[ -z $1 ]]; then
    launch_die "'$LAUNCH_COMMAND' takes exactly one argument, the run's workdir; see --help."
  else
    LAUNCH_WORKDIR=$1
  fi
  launch_run_files "$LAUNCH_WORKDIR"
  if [[ $LAUNCH_COMMAND == run ]]; then
    launch_check_can_run
  fi
}

# launch_check_can_run: before anything is installed or started, refuse a second run in a workdir
# whose detached run still goes here, and a detached run without setsid.
launch_check_can_run() {
  launch_read_pid
  if [[ -n $LAUNCH_RUN_PID ]] && launch_alive "$LAUNCH_RUN_PID"; then
    launch_fail "a run is already going in $LAUNCH_WORKDIR on ${HOSTNAME:-localhost}" \
      "(pid $LAUNCH_RUN_PID): stop it first, or pass another workdir."
  fi
  if ((LAUNCH_DETACH && !LAUNCH_DRY_RUN)) && ! command -v setsid >/dev/null; then
    launch_fail "setsid not found (it comes with util-linux): install it, or run in the" \
      "foreground with --foreground."
  fi
}

# launch_run_files WORKDIR: sets LAUNCH_LOG_DIR, the folder of this host's log and pid file:
# <workdir>/logs for a path, ~/research-logs/<scheme>/<bucket>/<path> for a gs:// (or other URL)
# workdir, which cannot be appended to; LAUNCH_LOG=<that>/<hostname>.log, LAUNCH_PID=...pid and
# LAUNCH_EXIT=...exit (the exit status of a detached run, written when it ends).
# One file per host, because on a pod slice every worker runs (and logs) the same command.
launch_run_files() {
  local workdir=${1%/} home=~
  if [[ $workdir == *://* ]]; then
    LAUNCH_LOG_DIR=$home/research-logs/${workdir%%://*}/${workdir#*://}
  else
    LAUNCH_LOG_DIR=$workdir/logs
  fi
  LAUNCH_LOG=$LAUNCH_LOG_DIR/${HOSTNAME:-localhost}.log
  LAUNCH_PID=$LAUNCH_LOG_DIR/${HOSTNAME:-localhost}.pid
  LAUNCH_EXIT=$LAUNCH_LOG_DIR/${HOSTNAME:-localhost}.exit
}

# launch_read_pid: sets LAUNCH_RUN_PID to the pid recorded in LAUNCH_PID, or to "" without one.
launch_read_pid() {
  LAUNCH_RUN_PID=""
  if [[ -f $LAUNCH_PID ]]; then
    read -r LAUNCH_RUN_PID <"$LAUNCH_PID" || true
  fi
  [[ $LAUNCH_RUN_PID =~ ^[1-9][0-9]*$ ]] || LAUNCH_RUN_PID="" # kill -0 0 would mean this group
}

# launch_read_exit: sets LAUNCH_RUN_STATUS to the exit status recorded in LAUNCH_EXIT; returns 1
# (status "") when none is recorded.
launch_read_exit() {
  LAUNCH_RUN_STATUS=""
  if [[ -f $LAUNCH_EXIT ]]; then
    read -r LAUNCH_RUN_STATUS <"$LAUNCH_EXIT" || true
  fi
  [[ $LAUNCH_RUN_STATUS =~ ^[0-9]+$ ]] || { LAUNCH_RUN_STATUS="" && return 1; }
}

# launch_alive PID: whether the process runs. A process that has exited but that its parent has not
# reaped is a zombie, which kill -0 still finds: a detached run's parent is PID 1, and in many
# containers PID 1 never reaps, so procfs (where there is one) has the last word.
launch_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ -d /proc/self ]] || return 0
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  [[ ${stat##*) } != Z* ]]
}

# launch_state: one phrase for the recorded run (after launch_read_pid).
launch_state() {
  if [[ -z $LAUNCH_RUN_PID ]]; then
    printf 'no run started here (no %s)' "$LAUNCH_PID"
  elif launch_alive "$LAUNCH_RUN_PID"; then
    printf 'running (pid %s)' "$LAUNCH_RUN_PID"
  elif launch_read_exit; then
    printf 'not running (pid %s exited with status %s)' "$LAUNCH_RUN_PID" "$LAUNCH_RUN_STATUS"
  else
    printf 'not running (pid %s has ended; its exit status was not recorded)' "$LAUNCH_RUN_PID"
  fi
}

# launch_ended_well: whether the recorded run goes on, ended with status 0, or was never detached
# here (after launch_read_pid); a run that failed, or whose end went unrecorded, did not.
launch_ended_well() {
  [[ -z $LAUNCH_RUN_PID ]] || launch_alive "$LAUNCH_RUN_PID" ||
    { launch_read_exit && ((LAUNCH_RUN_STATUS == 0)); }
}

# launch_run PROGRAM ARG...: run the experiment in the foreground (launch_exec) or detached.
launch_run() {
  if ((LAUNCH_DETACH)); then
    launch_detach "$@"
  else
    launch_exec "$@"
  fi
}

# The detached shell that runs a program (its words after the pid and exit files) and waits for it:
# the program's pid goes to the pid file at once, its exit status to the exit file when it ends.
LAUNCH_WAITER='"${@:3}" & echo $! >"$1"; wait $!; echo $? >"$2"'

# launch_detach PROGRAM ARG...: start the program in a session of its own (setsid: no controlling
# terminal, so no Ctrl-C or hangup from it), ignoring SIGHUP (nohup), reading /dev/null and
# appending stdout and stderr to LAUNCH_LOG, under a bash that writes its pid to LAUNCH_PID and,
# when it ends, its exit status to LAUNCH_EXIT. Then launch_await_start.
launch_detach() {
  local line
  line="setsid nohup $(launch_join "$BASH" -c "$LAUNCH_WAITER" detached "$LAUNCH_PID" \
    "$LAUNCH_EXIT" "$@") >>$(launch_quote "$LAUNCH_LOG") 2>&1 </dev/null &"
  launch_cmd mkdir -p "$LAUNCH_LOG_DIR"
  launch_cmd rm -f "$LAUNCH_PID" "$LAUNCH_EXIT" # the last run's, which has ended
  launch_shell "$line"
  if ((!LAUNCH_DRY_RUN)); then
    launch_await_start
  fi
}

# launch_await_start: the detached run's pid, then up to LAUNCH_START_WAIT seconds (default 2) to
# see whether it dies at start (a module or config typo, a bad flag): one that does is reported
# with its exit status and the log's last lines, and the launcher exits 1 instead of "started".
launch_await_start() {
  local host=${HOSTNAME:-localhost} wait=${LAUNCH_START_WAIT:-2} tenths=0
  [[ $wait =~ ^[0-9]+$ ]] || launch_die "LAUNCH_START_WAIT='$wait' must be whole seconds, e.g. 2."
  launch_read_pid
  while [[ -z $LAUNCH_RUN_PID ]]; do
    ((tenths++ < 100)) ||
      launch_fail "the run did not start: no pid in $LAUNCH_PID after 10 s; see $LAUNCH_LOG."
    sleep 0.1
    launch_read_pid
  done
  tenths=0
  while [[ ! -f $LAUNCH_EXIT ]] && ((tenths++ < wait * 10)); do
    sleep 0.1
  done
  launch_read_exit || true
  if [[ -n $LAUNCH_RUN_STATUS ]] && ((LAUNCH_RUN_STATUS != 0)); then
    printf '%s: the run (pid %s) exited with status %s as it started; the last lines of %s:\n' \
      "$host" "$LAUNCH_RUN_PID" "$LAUNCH_RUN_STATUS" "$LAUNCH_LOG" >&2
    tail -n 20 "$LAUNCH_LOG" >&2
    exit 1
  fi
  printf '%s: started pid %s, its output appended to %s\n' "$host" "$LAUNCH_RUN_PID" "$LAUNCH_LOG"
}

# launch_logs: follow this host's log, also across its rotation or re-creation (tail -F).
launch_logs() {
  launch_exec tail -F "$LAUNCH_LOG"
}

# launch_status: whether the run goes (or how it ended), and its last step: the last line of
# <workdir>/metrics.jsonl for a path, the log's last progress line ("step 120/1000 | loss ...") for
# a gs:// workdir. Returns 1 when the detached run has ended with a non-zero or unrecorded status.
launch_status() {
  local source query last=""
  if [[ $LAUNCH_WORKDIR == *://* ]]; then
    source=$LAUNCH_LOG
    query="grep -E $(launch_quote 'step +[0-9]+/[0-9]+ [|]') $(launch_quote "$source") | tail -n 1"
  else
    source=${LAUNCH_WORKDIR%/}/metrics.jsonl
    query="tail -n 1 $(launch_quote "$source")"
  fi
  if ((LAUNCH_DRY_RUN)); then
    printf '%s\n' "$query"
    return 0
  fi
  launch_read_pid
  if [[ -f $source ]]; then
    last=$(eval "$query") || true
  fi
  printf '%s: %s; log %s\n' "${HOSTNAME:-localhost}" "$(launch_state)" "$LAUNCH_LOG"
  printf '%s: last step: %s\n' "${HOSTNAME:-localhost}" "${last:-none yet in $source}"
  launch_ended_well # exit status 1 for a run that failed or whose end went unrecorded
}

# launch_stop: SIGTERM to the recorded run, which saves a checkpoint at the next step boundary and
# exits 0 (research/train/preemption.py). Nothing to stop is no error: stop is safe to repeat.
launch_stop() {
  launch_read_pid
  if [[ -z $LAUNCH_RUN_PID ]] || ! launch_alive "$LAUNCH_RUN_PID"; then
    printf '%s: %s, nothing to stop.\n' "${HOSTNAME:-localhost}" "$(launch_state)" >&2
    return 0
  fi
  launch_cmd kill -TERM "$LAUNCH_RUN_PID"
  if ((!LAUNCH_DRY_RUN)); then
    printf '%s: sent SIGTERM to pid %s; it saves a checkpoint at the next step, then exits.\n' \
      "${HOSTNAME:-localhost}" "$LAUNCH_RUN_PID"
  fi
}
