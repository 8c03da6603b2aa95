"""Benchmark: forward + backward of a scanned LSTM / GRU in JAX against PyTorch's nn.LSTM / nn.GRU.

  python -m experiments.benchmarks.rnn_scan                     # 'gpu' preset on a GPU, else 'cpu'
  python -m experiments.benchmarks.rnn_scan --preset=cpu --cells=lstm --json_out=/tmp/rnn.json
  taskset -c 0 python -m experiments.benchmarks.rnn_scan --preset=cpu   # one thread on each side

Both sides run one layer of the same width on the same inputs with the same weights (converted
with `research.models.convert.torch_rnn`), and compute the gradient of mean(outputs^2) with respect
to every weight and the input. Their outputs must agree (printed as a sanity check). The calls
are timed in interleaved rounds (PyTorch, then each JAX setting, --steps times after --warmup
untimed rounds, each call synchronized) so a slow spell of a shared machine hits every side; the
ratio is the median over rounds of PyTorch's seconds / JAX's. JAX is measured with the
hand-written backward pass (`research.rnn.scan_vjp`, the default) at each `unroll` in --unrolls
and, with --autodiff, with plain autodiff of the scan; the fastest is the headline. PyTorch runs
eager: cuDNN on a GPU, its own CPU kernels otherwise (oneDNN's fused LSTM; the GRU unfused).
Threads: PyTorch's `torch.get_num_threads()` and XLA's CPU pool (the CPUs this process may run
on) are printed and stored; both default to all cores (2 here), and `taskset -c 0` gives both 1.

Presets: 'cpu' batch 32, length 128, width 256; 'gpu' batch 64, length 256, width 512 (the shapes
of the measurement in DESIGN.md); 'smoke' for tests. All float32.

Measured (2-core AMD EPYC (Zen 4) VM shared with ~7 other jobs, load average 15-24; jax 0.10.2,
torch 2.13.0; 'cpu' preset):

| setting (ratio = PyTorch s / JAX s per round; min / median of 3 runs) | LSTM | GRU |
|---|---|---|
| before: plain autodiff, 2 threads each (earlier session, quieter machine; 1 run) | 0.56 | 0.79 |
| `taskset -c 0` (1 thread each): plain autodiff of the scan | 0.62 / 0.71 | 0.80 / 0.83 |
| `taskset -c 0` (1 thread each): custom VJP (the default) | 0.88 / 0.99 | 1.01 / 1.18 |

Single-thread process CPU time per call (interleaved, 8-10 rounds, min / median ms):
PyTorch LSTM 162 / 170, GRU 168 / 186; JAX autodiff LSTM 263 / 280, GRU 195 / 204; custom VJP
with the projection outside it 216 / 229 and 165 / 171; the final custom VJP (projection and
biases inside) 195 / 198-212 and 153 / 159-169. With 2 threads each on the loaded machine
PyTorch's OpenMP collapsed: 12-19 s per call against JAX's 1 s at load 17-24, and still 3.5 s
(LSTM) and 0.97 s (GRU) against JAX's 0.43 s and 0.20 s at load 7 (ratios 7.7 and 4.0). Those
measure OpenMP's barriers under oversubscription, not the kernels, so no 2-thread ratio from
this session is claimed; rerun without `taskset` on an idle machine for one.

Quiet machine (2026-11-27, load ~1), 'cpu' preset: one thread each LSTM 0.95, GRU 1.08; two
threads each LSTM 0.82, GRU 1.15. After the LSTM forward's in-place gates (below), load ~0.2: two
threads LSTM 0.82 (117 ms against 101 ms a call), GRU 1.12; one thread LSTM 0.94, GRU 1.08.
Those used glibc's malloc defaults; started as `python -m experiments...` the process now has
huge pages for large blocks (`research.train.host_memory`), which speed up both sides, PyTorch
more (2026-11-27, load ~1, two threads, 4 alternated runs each): LSTM 0.70-0.78 (104 ms against
75 ms a call), GRU 1.05-1.07; with `GLIBC_TUNABLES=` LSTM 0.81-0.85 (124 against 108 ms), GRU
1.05-1.07.

'gpu' preset on one H200 (jax 0.11.2, torch 2.11 with cuDNN, 2026-11-27; each library's default
float32 matmul precision, outputs agree to 2e-5 / 4e-5), JAX / PyTorch throughput:
LSTM: autodiff unroll 1: 0.87; custom VJP unroll 1: 1.48, unroll 4: 1.95, unroll 16: 1.95 (6.2 ms
against cuDNN's 12.0 ms a call). GRU: 1.17; 1.80, 2.28, 2.44 (5.5 ms against 13.4 ms).
On the GPU unrolling pays (fewer loop iterations, each its own kernel launches), on the CPU it costs.

What each choice did (single thread, CPU time):
- The custom VJP (backward scan that only carries dh, dc; dW_h, dW_i, dx one matmul each after
  the loop): LSTM -18%, GRU -16% (medians). Autodiff's backward loop did a second
  (outer-product) matmul per step for dW_h and kept ~15 [T,B,H] residuals (each a
  dynamic-update-slice kernel per step); the custom loops have 11 small kernels per step each.
- Projection and biases inside the custom VJP: removes a pass adding both biases over
  [T,B,4H] (fused into the loop's gate kernel instead) and autodiff's transpose of dgates
  ([T*B,4H], 16 MB) before dW_i: LSTM -10%.
- Time-major inside `scan.run` (one transpose of the input, none of [T,B,G,H]).
- `unroll`: slower here (LSTM unroll 4 +14%, 8 +45%; GRU 4 and 8 +5%), as before.
- The LSTM forward writes each step's activated gates over its row of the input projection
  (a loop-carried [T,B,4H] buffer, updated in place: one 16 MB buffer fewer to allocate, fault in
  and zero) and activates the four gates with one tanh (sigmoid(z) = tanh(z/2)/2 + 1/2): two
  threads 0.76 -> 0.80 (three paired runs), one thread unchanged.
- Not adopted (no measurable gain): precomputing the backward's gate slopes in the forward
  (a 3-kernel backward step, but a heavier forward), tanh-based sigmoids in one kernel (-3 ms of
  a 35 ms forward loop).

What remains is in the README ("Speed" in the RNN section: the forward loop's per-step kernels
against oneDNN's fused cell, with what else was tried). Earlier account (LSTM, one thread, ~200 ms
against PyTorch's ~165 ms): the six matmuls of
~1 GMAC each (projection, recurrent forward, recurrent backward, dW_i, dW_h, dx) take ~24 ms
each at ~90 GFLOP/s, ~145 ms, the same in both libraries; JAX then spends ~10 ms on the forward
loop's gate kernels, ~20 ms on the backward loop's (128 steps x 11 kernels on [32,256] blocks),
and ~10 ms zero-filling and copying the scan's stacked outputs ([T,B,4H] buffers), where
oneDNN's fused LSTM cell runs one kernel per step. The GRU, unfused in PyTorch too, is at parity.
"""

import dataclasses
import json
import os
import statistics
import sys
import time
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from research.rnn.layer import RNN


@dataclasses.dataclass(frozen=True)
class Settings:
    batch: int
    length: int
    width: int
    steps: int
    warmup: int


PRESETS = {
    "cpu": Settings(batch=32, length=128, width=256, steps=10, warmup=2),
    "gpu": Settings(batch=64, length=256, width=512, steps=30, warmup=5),
    "smoke": Settings(batch=2, length=8, width=16, steps=2, warmup=0),
}


def _interleaved_seconds(calls: dict, steps: int, warmup: int) -> dict:
    """{name: (first call's seconds, [seconds of each timed round])}.

    Every round calls each function once, in turn, so a slow spell of the (shared) machine hits
    all sides alike and per-round ratios stay meaningful.
    """
    first = {}
    for name, fn in calls.items():
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    rounds = {name: [] for name in calls}
    for _ in range(steps):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            rounds[name].append(time.perf_counter() - start)
    return {name: (first[name], rounds[name]) for name in calls}


def jax_call(cell: str, params, x, unroll: int, custom_vjp: bool):
    """A synchronized call of the jitted gradient; returns the outputs."""
    model = RNN(cell, params["layer_0_fwd"]["wh"].shape[0], unroll=unroll, custom_vjp=custom_vjp)

    def loss(p, inputs):
        out, _ = model.apply({"params": p}, inputs)
        return jnp.mean(out**2), out

    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))

    def call():
        (value, out), grads = grad(params, x)
        jax.block_until_ready(grads)
        return out

    return call


def torch_call(cell: str, state_dict, x: np.ndarray):
    """A synchronized forward + backward of PyTorch's module; returns the outputs."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    width = x.shape[-1]
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](width, width, batch_first=True)
    module = module.to(device)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict.items()})
    inputs = torch.from_numpy(x).to(device).requires_grad_(True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def call():
        module.zero_grad(set_to_none=True)
        inputs.grad = None
        out, _ = module(inputs)
        out.pow(2).mean().backward()
        sync()
        return out.detach()

    return call


def threads() -> dict:
    """The intra-op threads of each side: PyTorch's own count; XLA's CPU pool is sized by the CPUs
    this process may run on (its default; `taskset -c 0` gives both sides one)."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "xla_cpu_threads": len(os.sched_getaffinity(0)),
    }


def variants(unrolls, autodiff: bool) -> list[tuple[str, int, bool]]:
    """(result key prefix, unroll, custom_vjp) of every JAX setting measured."""
    found = [(f"jax_unroll{u}", u, True) for u in unrolls]
    return found + ([(f"jax_autodiff_unroll{unrolls[0]}", unrolls[0], False)] if autodiff else [])


def run(preset: str, cells, unrolls, autodiff: bool = True) -> list[dict]:
    from research.models.convert.torch_rnn import to_torch_rnn_state_dict

    s = PRESETS[preset]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((s.batch, s.length, s.width)).astype(np.float32)
    results = []
    for cell in cells:
        params = RNN(cell, s.width).init(jax.random.key(0), x)["params"]
        params = jax.tree.map(np.asarray, nn.unbox(params))
        state_dict = to_torch_rnn_state_dict(params, cell, num_layers=1, bidirectional=False)
        calls = {"torch": torch_call(cell, state_dict, x)}
        for key, unroll, custom_vjp in variants(unrolls, autodiff):
            calls[key] = jax_call(cell, jax.device_put(params), jnp.asarray(x), unroll, custom_vjp)
        timed = _interleaved_seconds(calls, s.steps, s.warmup)
        t_out = calls["torch"]().cpu().numpy()
        t_first, t_rounds = timed["torch"]
        t_median = statistics.median(t_rounds)
        row = {"cell": cell, **dataclasses.asdict(s), **threads(), "torch_first_s": t_first,
               "torch_median_s": t_median}  # fmt: skip
        print(f"{cell}: PyTorch {s.batch / t_median:,.1f} sequences/s ({t_median * 1e3:.2f} "
              f"ms/call, first {t_first:.2f} s)", flush=True)  # fmt: skip
        best = None
        for key, unroll, custom_vjp in variants(unrolls, autodiff):
            j_first, j_rounds = timed[key]
            j_median = statistics.median(j_rounds)
            error = float(np.abs(np.asarray(calls[key]()) - t_out).max())
            ratio = statistics.median(t / j for t, j in zip(t_rounds, j_rounds, strict=True))
            row[f"{key}_median_s"], row[f"{key}_first_s"] = j_median, j_first
            row[f"{key}_max_output_diff"], row[f"{key}_ratio"] = error, ratio
            print(f"{cell}: JAX unroll={unroll} {'custom VJP' if custom_vjp else 'autodiff'} "
                  f"{s.batch / j_median:,.1f} sequences/s ({j_median * 1e3:.2f} ms/call, first "
                  f"{j_first:.2f} s), ratio {ratio:.2f}, max |out - PyTorch out| {error:.2g}",
                  flush=True)  # fmt: skip
            if best is None or j_median < row[f"{best}_median_s"]:
                best = key
        row["best"], row["ratio"] = best, row[f"{best}_ratio"]
        print(f"{cell}: ratio JAX / PyTorch (throughput, median over paired rounds) = "
              f"{row['ratio']:.2f} ({best}; threads: PyTorch {row['torch_threads']}, XLA "
              f"{row['xla_cpu_threads']})", flush=True)  # fmt: skip
        results.append(row)
    return results


def _define_flags():
    """The flags, defined when run as a script (not at import: tests import both benchmarks)."""
    return types.SimpleNamespace(
        preset=flags.DEFINE_enum("preset", None, list(PRESETS), "Default: gpu on a GPU, else cpu."),
        cells=flags.DEFINE_list("cells", ["lstm", "gru"], "Cells to measure: lstm, gru."),
        unrolls=flags.DEFINE_list("unrolls", ["1"], "lax.scan unroll factors to measure."),
        autodiff=flags.DEFINE_bool(
            "autodiff", True, "Also measure plain autodiff of the scan (custom_vjp=False)."
        ),
        json_out=flags.DEFINE_string("json_out", None, "Write all results as JSON to this path."),
    )


def main(argv, options):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}.")
    preset = options.preset.value or ("gpu" if jax.default_backend() == "gpu" else "cpu")
    unknown = sorted(set(options.cells.value) - {"lstm", "gru"})
    if unknown:
        raise app.UsageError(f"Unknown --cells {unknown}; use lstm and/or gru.")
    unrolls = [int(u) for u in options.unrolls.value]
    print(f"preset {preset} on {jax.devices()[0].device_kind}, jax {jax.__version__}", flush=True)
    results = run(preset, options.cells.value, unrolls, options.autodiff.value)
    if options.json_out.value:
        with open(options.json_out.value, "w") as f:
            json.dump({"preset": preset, "python": sys.version.split()[0], "results": results}, f,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    _options = _define_flags()
    app.run(lambda argv: main(argv, _options))
