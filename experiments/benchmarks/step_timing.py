"""Timing and reporting shared by the step benchmarks (`train_step`, `family`): run a step with
synchronization, time it two ways, and turn the times into tokens/s, MFU and peak device memory."""

import dataclasses
import statistics
import time
import types

import jax

# bf16 dense tensor-core peaks (FLOP/s), matched against the device name in this order.
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))

# Both sides of every benchmark (train_step, family) use these: a constant learning rate
# (a schedule is a few scalar ops per step).
OPTIMIZER = types.SimpleNamespace(
    learning_rate=6e-4,
    warmup_steps=0,
    decay="constant",
    end_learning_rate_ratio=1.0,
    b1=0.9,
    b2=0.95,
    eps=1e-8,
    weight_decay=0.1,
    grad_clip_norm=1.0,
)


def say(text: str = "") -> None:
    print(text, flush=True)


def peak_flops(device_name: str, dtype: str) -> float | None:
    """The device's bf16 dense peak in FLOP/s; None on CPU, unknown devices or float32 compute."""
    if dtype == "float32":
        return None
    return next((peak for key, peak in PEAK_BF16 if key in device_name), None)


def time_steps(step, sync, *, steps: int, warmup: int) -> "Timing":
    """Runs `step` (returning the loss, or a (total, count) pair) 1 + warmup + 2 * steps times.

    The first `steps` timed steps are each synchronized (`sync` after each: a step's latency);
    the next `steps` are issued back to back with one `sync` at the end, as a training loop runs
    them (the host prepares step n + 1 while the device runs step n: throughput).
    """
    start = time.perf_counter()
    loss = step()
    sync()
    first_s = time.perf_counter() - start
    first_loss = float(loss[0] / loss[1]) if isinstance(loss, tuple) else float(loss)
    for _ in range(warmup):
        step()
        sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return Timing(first_loss, first_s, times, (time.perf_counter() - start) / steps)


@dataclasses.dataclass(frozen=True)
class Timing:
    first_loss: float
    first_s: float  # the first step, compilation included
    times: list  # seconds of each synchronized step
    pipelined_s: float  # mean seconds per step when steps are issued back to back


def peak_memory_bytes(side: str) -> int | None:
    """Peak device memory so far of 'jax' (XLA's allocator) or 'torch' (CUDA's caching allocator);
    None on the CPU, where neither keeps such a count."""
    if side == "torch":
        import torch  # only the PyTorch side asks: --skip_torch runs without PyTorch

        return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def summarize(name, timing: Timing, *, tokens_per_step, flops_per_token, peak) -> dict:
    median = statistics.median(timing.times)
    tokens_per_s = tokens_per_step / median
    pipelined_tokens_per_s = tokens_per_step / timing.pipelined_s
    mfu = tokens_per_s * flops_per_token / peak if peak else None
    pipelined_mfu = pipelined_tokens_per_s * flops_per_token / peak if peak else None
    say(
        f"{name:<30} first step {timing.first_s:7.2f} s   median step {median * 1e3:9.2f} ms   "
        f"{tokens_per_s:>11,.0f} tokens/s   MFU {'n/a' if mfu is None else f'{mfu:.1%}'}   "
        f"first loss {timing.first_loss:.4f}"
    )
    say(
        f"{'':<30} back to back {timing.pipelined_s * 1e3:9.2f} ms/step {pipelined_tokens_per_s:>11,.0f}"
        f" tokens/s   MFU {'n/a' if pipelined_mfu is None else f'{pipelined_mfu:.1%}'}"
    )
    return dict(
        name=name,
        compile_s=timing.first_s,
        median_step_s=median,
        step_times_s=timing.times,
        tokens_per_s=tokens_per_s,
        mfu=mfu,
        pipelined_step_s=timing.pipelined_s,
        pipelined_tokens_per_s=pipelined_tokens_per_s,
        pipelined_mfu=pipelined_mfu,
        first_loss=timing.first_loss,
    )


def report_memory(result: dict, side: str) -> dict:
    """Adds (and prints) the side's peak device memory to its result."""
    result["peak_memory_bytes"] = peak_memory_bytes(side)
    if result["peak_memory_bytes"] is not None:
        say(f"{'':<30} peak device memory {result['peak_memory_bytes'] / 2**30:.2f} GiB")
    return result
