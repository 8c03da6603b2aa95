"""Attention cost against sequence length: compiled time and peak memory of forward + backward.

  python -m experiments.attention_cost --config=experiments/configs/attention/cost.py \
      --workdir=runs/attention_cost

For every implementation in `config.implementations` and every length T in `config.lengths`, one
jitted program computes the attention output and the gradients of sum(out * g) with respect to
q, k and v (g a fixed random cotangent), on q, k, v [batch, T, heads, head_dim] in float32:

- einsum, xla, blockwise: `research.nn.attention.dot_product_attention` with that implementation
  (exact; einsum and xla hold [T, T] scores, blockwise streams blocks of 128 x 128);
- local: `research.nn.local_attention.local_attention`, window `config.window` (exact on its band);
- linformer: `research.nn.linformer.linformer_attention`, k = `config.linformer_k` projections;
- performer: `research.nn.performer.performer_attention`, m = `config.performer_features`.

Reported per point: time, the fastest of `config.repeats` calls after one warm-up call, in
seconds of `config.clock`: 'wall' (elapsed time; the measure on an accelerator or a quiet
machine) or 'cpu' (this process's CPU seconds over all its threads: the work done, steady on a
CPU shared with other jobs, where elapsed time mostly measures the queue); results.json keeps
both, and the median wall time; and
peak temporary memory, `compiled.memory_analysis().temp_size_in_bytes` (the buffers XLA allocates
for the program beyond its inputs and outputs). A least-squares line through log2(cost) against
log2(T) over the last `config.fit_points` lengths gives each method's slope (dense attention
near 2, the linear methods near 1; small lengths are dominated by fixed overheads, hence the fit
on the largest ones). Attention is bidirectional (`causal=False`) for every method, so Linformer,
which has no causal form, is measured on the same footing. Writes results.json, results.md and
cost_time.png, cost_memory.png (log-log, slopes in the legends).
"""

import pathlib
import statistics
import time

import jax
import numpy as np
from absl import logging

from experiments import entry
from experiments.figures import plt, save
from experiments.results import write_results
from research.nn.attention import dot_product_attention
from research.nn.linformer import linformer_attention
from research.nn.local_attention import local_attention
from research.nn.performer import orthogonal_random_features, performer_attention

IMPLEMENTATIONS = ("einsum", "xla", "blockwise", "local", "linformer", "performer")


def attention_fn(name: str, length: int, config):
    """(attention(q, k, v) -> out, its extra inputs) for implementation `name` at length T."""
    head_dim = config.head_dim
    if name in ("einsum", "xla", "blockwise"):
        implementation = None if name == "einsum" else name
        return (
            lambda q, k, v: dot_product_attention(
                q, k, v, causal=False, implementation=implementation
            )
        ), ()
    if name == "local":
        return (lambda q, k, v: local_attention(q, k, v, window=config.window, causal=False)), ()
    if name == "linformer":
        e, f = jax.random.normal(jax.random.key(1), (2, config.linformer_k, length)) / np.sqrt(
            length
        )
        return (lambda q, k, v, e, f: linformer_attention(q, k, v, e, f)), (e, f)
    if name == "performer":
        w = orthogonal_random_features(jax.random.key(2), config.performer_features, head_dim)
        return (lambda q, k, v, w: performer_attention(q, k, v, w, causal=False)), (w,)
    raise ValueError(f"Unknown implementation {name!r}; expected some of {IMPLEMENTATIONS}.")


def measure(name: str, length: int, config) -> dict:
    """Compiles forward + backward of one implementation at one length; time and temp memory."""
    attention, extra = attention_fn(name, length, config)
    shape = (config.batch_size, length, config.num_heads, config.head_dim)
    q, k, v, g = (jax.random.normal(key, shape) for key in jax.random.split(jax.random.key(0), 4))

    def forward_backward(q, k, v, g, *extra):
        out, pullback = jax.vjp(lambda q, k, v: attention(q, k, v, *extra), q, k, v)
        return out, pullback(g)

    start = time.perf_counter()
    compiled = jax.jit(forward_backward).lower(q, k, v, g, *extra).compile()
    compile_seconds = time.perf_counter() - start
    temp_bytes = int(compiled.memory_analysis().temp_size_in_bytes)
    jax.block_until_ready(compiled(q, k, v, g, *extra))  # warm-up
    wall, cpu = [], []
    for _ in range(config.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(compiled(q, k, v, g, *extra))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if config.clock not in ("wall", "cpu"):
        raise ValueError(f"config.clock must be 'wall' or 'cpu', got {config.clock!r}.")
    return {
        "seconds": min(wall if config.clock == "wall" else cpu),
        "wall_seconds": min(wall),
        "median_wall_seconds": statistics.median(wall),
        "cpu_seconds": min(cpu),
        "temp_bytes": temp_bytes,
        "compile_seconds": compile_seconds,
    }


def fitted_slope(lengths, values, fit_points: int) -> float:
    """Slope of log2(values) against log2(lengths) over the last `fit_points` points."""
    x = np.log2(np.asarray(lengths[-fit_points:], float))
    y = np.log2(np.maximum(np.asarray(values[-fit_points:], float), 1.0e-12))
    return float(np.polyfit(x, y, 1)[0])


def _markdown(results, config) -> str:
    names, lengths = list(results["runs"]), config.lengths
    head = (
        f"Forward + backward, float32, batch {config.batch_size}, {config.num_heads} heads of "
        f"{config.head_dim}, bidirectional; window {config.window}, Linformer k "
        f"{config.linformer_k}, Performer m {config.performer_features}. Time: fastest of "
        f"{config.repeats} calls, {config.clock} clock, ms. Memory: compiled temp buffers, MiB. Slopes: log-log fit "
        f"over the last {config.fit_points} lengths."
    )
    lines = [head, ""]
    for quantity, key, unit in (
        ("time (ms)", "seconds", 1e3),
        ("memory (MiB)", "temp_bytes", 2**-20),
    ):
        lines += [f"| T | {' | '.join(f'{n} {quantity}' for n in names)} |"]
        lines += ["|---" * (len(names) + 1) + "|"]
        for length in lengths:
            cells = [f"{results['runs'][n][str(length)][key] * unit:.3g}" for n in names]
            lines.append(f"| {length} | {' | '.join(cells)} |")
        slope_key = "time_slope" if key == "seconds" else "memory_slope"
        slopes = [f"{results['slopes'][n][slope_key]:.2f}" for n in names]
        lines += [f"| slope | {' | '.join(slopes)} |", ""]
    return "\n".join(lines).rstrip()


def _plot(path, results, config, key, slope_key, ylabel):
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    lengths = config.lengths
    for i, name in enumerate(results["runs"]):
        values = [results["runs"][name][str(t)][key] for t in lengths]
        slope = results["slopes"][name][slope_key]
        ax.loglog(lengths, values, "o-", color=f"C{i}", base=2, label=f"{name} (slope {slope:.2f})")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(ylabel)
    ax.set_title(f"attention forward + backward: {ylabel}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, dpi=110)


def main(config, workdir):
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    names = [n for n in config.implementations.split(",") if n]
    unknown = sorted(set(names) - set(IMPLEMENTATIONS))
    if unknown:
        raise ValueError(
            f"Unknown implementations {unknown} in config.implementations; choose a comma-separated "
            f"subset of {','.join(IMPLEMENTATIONS)}."
        )
    if not 2 <= config.fit_points <= len(config.lengths):
        raise ValueError(
            f"fit_points={config.fit_points} must be between 2 and the number of lengths "
            f"({len(config.lengths)}) to fit a slope."
        )
    runs, slopes = {}, {}
    for name in names:
        runs[name] = {}
        for length in config.lengths:
            runs[name][str(length)] = row = measure(name, length, config)
            logging.info(
                "%s T=%d: %.2f ms, %.2f MiB temp (compile %.1f s)",
                name, length, row["seconds"] * 1e3, row["temp_bytes"] / 2**20,
                row["compile_seconds"],
            )  # fmt: skip
        series = [runs[name][str(t)] for t in config.lengths]
        slopes[name] = {
            "time_slope": fitted_slope(
                config.lengths, [r["seconds"] for r in series], config.fit_points
            ),
            "memory_slope": fitted_slope(
                config.lengths, [r["temp_bytes"] for r in series], config.fit_points
            ),
        }
    results = {"config": config.to_dict(), "runs": runs, "slopes": slopes}
    if write_results(workdir, results, _markdown(results, config)):
        clock = f"{config.clock} seconds"
        _plot(workdir / "cost_time.png", results, config, "seconds", "time_slope", clock)
        _plot(
            workdir / "cost_memory.png", results, config, "temp_bytes", "memory_slope", "temp bytes"
        )
    return results


if __name__ == "__main__":
    entry.run(main)
