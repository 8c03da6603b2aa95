#!/usr/bin/env bash
# Every GPU measurement the benchmarks make, in one command (about 6 minutes on one H100):
#   experiments/benchmarks/gpu_suite.sh [OUT_DIR]        (default /tmp/gpu_suite)
# Each benchmark's log and JSON go to OUT_DIR; a benchmark that fails or runs past its time limit
# does not stop the ones after it. PYTHON names the interpreter (default: python3).
set -uo pipefail
out=${1:-/tmp/gpu_suite}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
# Repeated compilations of the same step (the profile's second look at the HLO) hit these caches.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax_cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0

# bench NAME SECONDS ARGS...: runs `python -m ARGS` under a time limit, its output in OUT_DIR/NAME.log.
bench() {
  local name=$1 seconds=$2
  shift 2
  echo "=== $name: $py -m $* (limit ${seconds}s)"
  timeout "$seconds" "$py" -m "$@" 2>&1 | grep -v -e '^W0000' -e 'xla_bridge' | tee "$out/$name.log"
  echo "=== $name: exit ${PIPESTATUS[0]}"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
bench train_step 200 experiments.benchmarks.train_step --preset=gpu --json_out="$out/train_step.json"
bench rnn_scan 90 experiments.benchmarks.rnn_scan --preset=gpu --unrolls=1,4,16 --autodiff \
  --json_out="$out/rnn_scan.json"
bench step_profile 170 experiments.benchmarks.step_profile --preset=gpu --top=40 \
  --out_dir=/tmp/step_profile
cp /tmp/step_profile/jax_step.hlo.txt "$out/" 2>/dev/null
