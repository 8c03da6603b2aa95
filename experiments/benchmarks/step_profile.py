"""Where the GPT training step's time goes, op by op, in JAX and in PyTorch.

  python -m experiments.benchmarks.step_profile                 # 'gpu' preset on a GPU, else 'cpu'
  python -m experiments.benchmarks.step_profile --preset=cpu --side=jax --out_dir=/tmp/prof

The benchmark `experiments.benchmarks.train_step` says how fast each side is; this says why. It
builds the same two steps (same model, weights, tokens, optimizer and precision), runs each
--warmup times, then records --steps steps:

- JAX with `jax.profiler.trace`; the trace (`*.xplane.pb`, readable by TensorBoard's profile plugin
  or XProf) is summed per XLA op (a fusion, a cuBLAS / cuDNN custom call, a thunk on the CPU) and
  each op is put in a category by its HLO text (`categorize`). The compiled step's HLO text is
  written beside the trace, so an op name in the table can be looked up.
- PyTorch with `torch.profiler` (CUDA kernels on a GPU, ATen ops on the CPU), its own table.

Printed: per-step milliseconds per category, then the --top ops, for each side. Times are device
time summed per op (overlapping streams counted separately), so they can exceed the step's wall time.
"""

import collections
import dataclasses
import glob
import os
import re
import sys

import jax
import torch
from absl import app, flags
from jax.profiler import ProfileData

from experiments.benchmarks import train_step
from research.models import transformer_lm

# --preset, --attention_impl, --batch, --seq_len, --dtype, --torch_compile are train_step's flags.
_SIDE = flags.DEFINE_enum("side", "both", ["both", "jax", "torch"], "Which step to profile.")
_STEPS = flags.DEFINE_integer("profile_steps", 3, "Profiled steps.")
_WARMUP = flags.DEFINE_integer("profile_warmup", 3, "Steps before profiling (the first compiles).")
_TOP = flags.DEFINE_integer("top", 30, "Ops to list per side.")
_OUT_DIR = flags.DEFINE_string("out_dir", "/tmp/step_profile", "Trace and HLO go here.")

# Checked in order against an op's HLO text (lower case); the first match names the category.
# On a GPU the trace names kernels: XLA's own carry their fusion's name ('.' written '_'), cuDNN's
# and cuBLAS's their library names (sdpa, nvjet, xmma, cutlass), matched here too.
CATEGORIES = (
    ("attention (cuDNN)", ("__cudnn$fmha", "sdpa", "cudnn")),
    ("matmul", ("__cublas", "dot(", "gemm", "convolution(", "nvjet", "xmma", "cutlass")),
    ("all-reduce / collective", ("all-reduce", "all-gather", "reduce-scatter")),
    ("reduction", ("reduce(",)),
    ("gather / scatter", ("gather(", "scatter(")),
    ("copy / transpose", ("copy(", "transpose(")),
)


def categorize(hlo_text: str) -> str:
    """A category name for an XLA op from its HLO text; 'elementwise / other' when none matches.

    Operand names (%gemm_fusion.7 feeding an add) are not what the op does: they are dropped.
    """
    text = re.sub(r"%[\w.\-]+", "", hlo_text).lower()
    for name, needles in CATEGORIES:
        if any(needle in text for needle in needles):
            return name
    return "elementwise / other"


@dataclasses.dataclass
class OpTime:
    name: str
    total_ns: float = 0.0
    count: int = 0
    text: str = ""  # the op's HLO instruction, with its fused computation's body for a fusion
    where: str = ""  # the model code it came from (the instruction's op_name metadata)


_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.*)$")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")


def hlo_instructions(hlo_text: str) -> dict[str, tuple[str, str]]:
    """{instruction name: (its text with any called computation's body, op_name metadata)}
    from an optimized HLO module's text."""
    bodies, instructions, current = collections.defaultdict(list), {}, None
    for line in hlo_text.splitlines():
        if match := _COMPUTATION.match(line):
            current = match.group(1)
        elif match := _INSTRUCTION.match(line):
            bodies[current].append(match.group(2).split(", metadata=")[0])
            instructions[match.group(1)] = match.group(2)
    table = {}
    for name, text in instructions.items():
        called = re.findall(r"(?:calls|to_apply)=%?([\w.\-]+)", text)
        # The instruction without its metadata (whose op_name, e.g. "transpose(jvp(Model))/...",
        # would match a category) and the bodies it calls.
        own = text.split(", metadata=")[0]
        full = " ".join([own] + [b for c in called for b in bodies.get(c, [])])
        where = re.search(r'op_name="([^"]*)"', text)
        table[name] = (full, where.group(1) if where else "")
    return table


def device_op_times(xspace_path: str, hlo: dict[str, tuple[str, str]]) -> dict[str, OpTime]:
    """Total duration per XLA op in a trace (GPU: the device plane's 'XLA Ops' line; CPU: the
    thunks on the XLA client's line), with each op's HLO text and origin from `hlo`."""
    ops: dict[str, OpTime] = {}
    by_kernel_name = {name.replace(".", "_"): entry for name, entry in hlo.items()}
    for plane in ProfileData.from_file(xspace_path).planes:
        lines = list(plane.lines)
        if plane.name.startswith("/device:"):
            ops_lines = [line for line in lines if line.name == "XLA Ops"]
            if not ops_lines:
                print(f"{plane.name}: no 'XLA Ops' line in {[line.name for line in lines]}")
            lines = ops_lines or [line for line in lines if line.name.startswith("Stream")]
        elif plane.name.startswith("/host:CPU"):
            lines = [line for line in lines if line.name.startswith("tf_XLA")]
        else:
            continue
        for line in lines:
            for event in line.events:
                if event.name.startswith(("ThunkExecutor", "Threadpool", "end: ")):
                    continue  # CPU: spans that hold the thunks, and markers
                if event.name not in ops:
                    text, where = hlo.get(event.name) or by_kernel_name.get(
                        event.name, (event.name, "")
                    )
                    ops[event.name] = OpTime(event.name, text=text, where=where)
                ops[event.name].total_ns += event.duration_ns
                ops[event.name].count += 1
    return ops


def report_jax(ops: dict[str, OpTime], steps: int, top: int) -> dict[str, float]:
    """Prints per-step ms by category and the `top` ops; returns the category totals (ms/step)."""
    by_category = collections.Counter()
    for op in ops.values():
        by_category[categorize(op.text)] += op.total_ns / steps / 1e6
    total = sum(by_category.values())
    print(f"JAX: {total:.2f} ms/step of device op time over {len(ops)} ops", flush=True)
    for name, ms in by_category.most_common():
        print(f"  {name:<26} {ms:9.2f} ms  {ms / total:6.1%}")
    print(f"  top {top} ops (ms/step, calls/step, HLO):")
    for op in sorted(ops.values(), key=lambda o: -o.total_ns)[:top]:
        where = re.sub(r"^jit\([^)]*\)/", "", op.where)[-90:]
        text = re.sub(r"\s+", " ", op.text)[:60]
        print(
            f"  {op.total_ns / steps / 1e6:8.3f} {op.count / steps:5.1f}  {op.name:<24} "
            f"{categorize(op.text):<20} {where}  | {text}"
        )
    return dict(by_category)


def profile_jax(
    config, host_params, tokens, s, out_dir: str, steps: int, top: int, warmup: int = 3
):
    """Traces `steps` of our step after `warmup` (at least 1: the compiling one); prints the report
    and returns the per-category ms/step. The trace and the step's HLO text go under `out_dir`."""
    step, sync, hlo_text = train_step.jax_step(config, host_params, tokens, s)
    for _ in range(max(1, warmup)):
        step()
        sync()
    trace_dir = os.path.join(out_dir, "jax_trace")
    with jax.profiler.trace(trace_dir):
        for _ in range(steps):
            step()
            sync()
    text = hlo_text()
    with open(os.path.join(out_dir, "jax_step.hlo.txt"), "w") as f:
        f.write(text)
    paths = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise RuntimeError(f"jax.profiler wrote no *.xplane.pb under {trace_dir}.")
    ops = device_op_times(max(paths, key=os.path.getmtime), hlo_instructions(text))
    return report_jax(ops, steps, top)


def profile_torch(config, host_params, tokens, s, steps: int, top: int, warmup: int = 3) -> None:
    """Prints torch.profiler's table (CUDA kernels on a GPU, ATen ops on the CPU) for `steps`."""
    step, sync, device = train_step.torch_step(config, host_params, tokens, s, s.torch_compile)
    for _ in range(max(1, warmup)):
        step()
        sync()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            step()
            sync()
    sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    print(f"PyTorch ({'compile' if s.torch_compile else 'eager'} on {device}), {steps} steps:")
    print(prof.key_averages().table(sort_by=sort, row_limit=top, max_name_column_width=70))


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; see --help.")
    s = train_step.settings_from_flags()
    config = transformer_lm.make(
        s.variant, **s.overrides, dtype=s.dtype, attention_impl=s.attention_impls[0]
    ).config
    host_params, tokens = train_step.params_and_tokens(config, s)
    os.makedirs(_OUT_DIR.value, exist_ok=True)
    print(f"{s}\njax {jax.__version__}, torch {torch.__version__}", flush=True)
    if _SIDE.value in ("both", "torch"):
        profile_torch(config, host_params, tokens, s, _STEPS.value, _TOP.value, _WARMUP.value)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if _SIDE.value in ("both", "jax"):
        profile_jax(
            config, host_params, tokens, s, _OUT_DIR.value, _STEPS.value, _TOP.value, _WARMUP.value
        )


if __name__ == "__main__":
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    sys.exit(app.run(main))
