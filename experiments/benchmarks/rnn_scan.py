"""Benchmark: forward + backward of a scanned LSTM / GRU in JAX against PyTorch's nn.LSTM / nn.GRU.

  python -m experiments.benchmarks.rnn_scan                     # 'gpu' preset on a GPU, else 'cpu'
  python -m experiments.benchmarks.rnn_scan --preset=cpu --cells=lstm --json_out=/tmp/rnn.json

Both sides run one layer of the same width on the same inputs with the same weights (converted
with `research.models.convert.torch_rnn`), and compute the gradient of mean(outputs^2) with respect
to every weight and the input. Their outputs must agree (printed as a sanity check). For each
side: the first call's time (compilation included), the median of --steps timed calls after
--warmup untimed ones (each synchronized), sequences per second, and the JAX/PyTorch ratio. JAX is
measured at each `unroll` in --unrolls (`lax.scan` unrolling trades compile time and code size for
fewer loop iterations); the fastest is the headline. PyTorch runs eager: cuDNN on a GPU, its own
CPU kernels otherwise.

Presets: 'cpu' batch 32, length 128, width 256; 'gpu' batch 64, length 256, width 512 (the shapes
of the measurement in DESIGN.md); 'smoke' for tests. All float32.
"""

import dataclasses
import json
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


def _median_seconds(fn, steps: int, warmup: int) -> tuple[float, float]:
    """(first call's seconds, median seconds of `steps` calls after `warmup` more)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def bench_jax(cell: str, params, x, unroll: int, s: Settings):
    model = RNN(cell, s.width, unroll=unroll)

    def loss(p, inputs):
        out, _ = model.apply({"params": p}, inputs)
        return jnp.mean(out**2), out

    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))

    def call():
        (value, out), grads = grad(params, x)
        jax.block_until_ready(grads)
        return out

    first, median = _median_seconds(call, s.steps, s.warmup)
    return first, median, np.asarray(call())


def bench_torch(cell: str, state_dict, x: np.ndarray, s: Settings):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        s.width, s.width, batch_first=True
    ).to(device)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict.items()})
    inputs = torch.from_numpy(x).to(device).requires_grad_(True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def call():
        module.zero_grad(set_to_none=True)
        inputs.grad = None
        out, _ = module(inputs)
        out.pow(2).mean().backward()
        sync()
        return out

    first, median = _median_seconds(call, s.steps, s.warmup)
    return first, median, call().detach().cpu().numpy()


def run(preset: str, cells, unrolls) -> list[dict]:
    from research.models.convert.torch_rnn import to_torch_rnn_state_dict

    s = PRESETS[preset]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((s.batch, s.length, s.width)).astype(np.float32)
    results = []
    for cell in cells:
        params = RNN(cell, s.width).init(jax.random.key(0), x)["params"]
        params = jax.tree.map(np.asarray, nn.unbox(params))
        state_dict = to_torch_rnn_state_dict(params, cell, num_layers=1, bidirectional=False)
        t_first, t_median, t_out = bench_torch(cell, state_dict, x, s)
        row = {"cell": cell, **dataclasses.asdict(s), "torch_first_s": t_first,
               "torch_median_s": t_median}  # fmt: skip
        print(f"{cell}: PyTorch {s.batch / t_median:,.1f} sequences/s ({t_median * 1e3:.2f} "
              f"ms/call, first {t_first:.2f} s)", flush=True)  # fmt: skip
        best = None
        for unroll in unrolls:
            j_first, j_median, j_out = bench_jax(cell, jax.device_put(params), jnp.asarray(x),
                                                 unroll, s)  # fmt: skip
            error = float(np.abs(j_out - t_out).max())
            row[f"jax_unroll{unroll}_median_s"] = j_median
            row[f"jax_unroll{unroll}_first_s"] = j_first
            row[f"jax_unroll{unroll}_max_output_diff"] = error
            print(f"{cell}: JAX unroll={unroll} {s.batch / j_median:,.1f} sequences/s "
                  f"({j_median * 1e3:.2f} ms/call, first {j_first:.2f} s), max |out - "
                  f"PyTorch out| {error:.2g}", flush=True)  # fmt: skip
            if best is None or j_median < best[1]:
                best = (unroll, j_median)
        row["best_unroll"], row["ratio"] = best[0], t_median / best[1]
        print(f"{cell}: ratio JAX / PyTorch (throughput) = {row['ratio']:.2f} "
              f"(unroll={best[0]})", flush=True)  # fmt: skip
        results.append(row)
    return results


def _define_flags():
    """The flags, defined when run as a script (not at import: tests import both benchmarks)."""
    return types.SimpleNamespace(
        preset=flags.DEFINE_enum("preset", None, list(PRESETS), "Default: gpu on a GPU, else cpu."),
        cells=flags.DEFINE_list("cells", ["lstm", "gru"], "Cells to measure: lstm, gru."),
        unrolls=flags.DEFINE_list("unrolls", ["1", "8"], "lax.scan unroll factors to measure."),
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
    results = run(preset, options.cells.value, unrolls)
    if options.json_out.value:
        with open(options.json_out.value, "w") as f:
            json.dump({"preset": preset, "python": sys.version.split()[0], "results": results}, f,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    _options = _define_flags()
    app.run(lambda argv: main(argv, _options))
