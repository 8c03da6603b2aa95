# shellcheck shell=bash
# Shared by launch/*.sh (sourced, never run): print-or-run, errors, experiment arguments, the venv.
#
# Everything on the --dry-run path uses shell builtins only, so a dry run executes no program at all
# (tests/launch/launch_test.py checks this by running it with an empty PATH).

if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404)); then
  printf 'launch/*.sh need bash 4.4 or newer, found %s (macOS: brew install bash).\n' \
    "$BASH_VERSION" >&2
  exit 1
fi

LAUNCH_DRY_RUN=0
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
