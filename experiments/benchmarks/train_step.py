"""Benchmark: one full GPT training step (forward, backward, clipped AdamW) in JAX and in PyTorch.

  python -m experiments.benchmarks.train_step                  # 'gpu' preset on a GPU, else 'cpu'
  python -m experiments.benchmarks.train_step --preset=cpu --json_out=/tmp/train_step.json

(a) our model (`research.models.transformer_lm`) with our step (`research.train.step`, the
    framework's optimizer, `jax.jit(..., donate_argnums=0)`, one device, no mesh), against
(b) the same model in PyTorch (`experiments.benchmarks.torch_gpt`, loaded with the same weights),
    trained with `torch.optim.AdamW` (fused on CUDA) and `clip_grad_norm_`; eager on CPU,
    `torch.compile` and bf16 autocast on GPU.

Both see the same token batch, so their first-step losses must agree (printed as a sanity check).
For each side it prints: the first step's time (compilation included), the median of --steps
timed steps after --warmup untimed ones (each step synchronized), tokens/s, model FLOPs
utilization against the bf16 dense peak where the device is known, and finally the JAX/PyTorch
tokens/s ratio. Lines are flushed as they come, so a timeout keeps what was measured.

Presets: 'cpu' is the 'tiny' model (4 layers, width 256, seq 128, batch 32, float32), JAX with
the einsum attention, 'xla' and 'blockwise' (the fastest is the headline); 'gpu' is GPT-2 small (vocab
50257, its table padded to 50304; seq 1024, batch 16, bf16 compute with fp32 params, cuDNN
attention, falling back to 'xla'); 'smoke' is a 2-layer model for tests.

Measured (2026-11-27), preset gpu, one H200, jax 0.11.2 / torch 2.11 (about 100 s in all):
PyTorch compile 456,983 tokens/s (35.9 ms/step, MFU 39.5%; back to back 35.4 ms, 40.0%), JAX cuDNN
418,843 tokens/s (39.1 ms, 36.2%; back to back 36.3 ms, 39.1%): ratio 0.92, back to back 0.98.
Before the output layer's bf16 backward and the two-pass cross-entropy (same day, same kind of
card): JAX 357,061 tokens/s (45.9 ms, 30.9%), ratio 0.79. README "Benchmark" has the profile-backed
account of both steps; `experiments/benchmarks/step_profile.py` makes the profiles and
`experiments/benchmarks/gpu_suite.sh` runs every GPU benchmark in one command.

Preset cpu, 2-core AMD EPYC, jax 0.10.2 / torch 2.13, 2026-11-27 (load ~1), 4 runs: JAX 650-686
ms/step, PyTorch eager 581-684, ratio 0.85-1.02 (back to back 0.82-0.85). With glibc's malloc
defaults (`GLIBC_TUNABLES=` in the environment), 2 runs: JAX 794-821 ms, ratio 0.72-0.78: every
step then faulted in its 578 MB of XLA temporaries 4 KB at a time (`research.train.host_memory`,
which `python -m experiments...` applies; the header line says whether it is on).

Earlier CPU measurements, before that change. On a quieter machine (earlier runs):
PyTorch eager 4,300 to 6,700 tokens/s, JAX 3,400 to 4,200 (ratio 0.62 to 0.91). On 2026-11-26
22:58-00:01 UTC, with up to 6 other jobs on the 2 cores (load average 7-24), JAX/PyTorch tokens/s
over 5 runs was min 1.27, median 3.11, max 6.49: 1.27 (default 10 steps; PyTorch 598 tokens/s, JAX
einsum 758, xla 695), 3.34 (default; 672; 1,228, 2,245), and with --steps=4 --warmup=1 3.11 (168;
523, 395), 1.79 (226; 227, 404), 6.49 (291; 1,023, 1,886). First step (compilation): JAX 9 to 66 s,
PyTorch 4 to 28 s. Under contention PyTorch eager slows far more than XLA (6 to 40x its quiet step
time, against 1.5 to 10x for JAX's faster path; likely its OpenMP workers waiting for each other),
so these ratios say nothing about the quiet-machine target, which stays unconfirmed.

Where the CPU step's time goes (preset cpu, profiled ~23:20 UTC under that load; shares carry over,
absolute times do not). JAX einsum attention (`jax.profiler.trace` of 3 steps, each thunk mapped to
its HLO op_name; compiled cost analysis 86.7 GFLOP/step = the 21.0 MFLOP/token formula): 12.2 s/step
attributed, of which the projection and MLP matmuls forward and backward (bias adds fused) 6.71 s
(55%); attention's T x T part 2.28 s (19%: score and value dots 0.98 s, mask select, softmax
division, max/sum reductions and transposes 1.30 s); LayerNorm forward and backward 1.70 s (14%);
GELU-tanh and MLP elementwise 0.86 s (7%); output layer and loss 0.29 s (2.4%); token-embedding
gather 0.04 s (0.3%); AdamW and clipping are fused into a few loops (< 2%). PyTorch eager
(`torch.profiler`, 17.5 s/step self CPU): mm/addmm (every linear layer) 51%; scaled-dot-product
flash attention forward and backward 5.3%; LayerNorm 6.5%; GELU 4.3%; AdamW 9%; copies, fills,
concatenations and bias-gradient sums 17%; loss 1.6%. So the gap is attention (19% against 5%:
PyTorch's CPU flash kernel skips the masked half and never writes the [B,N,T,T] scores; ours
computes the whole T x T in separate loops), LayerNorm (14% against 6.5%: two-pass float32 mean and
variance, separate reduction loops forward and backward) and GELU (7% against 4%); JAX gains it back
on the optimizer and framework overhead. Matmuls take the same share on both sides. Of the 99 dots
in the compiled step, 91 run as YNNPACK fusions; the 8 MLP weight-gradient dots (dW of wi and wo,
[256,1024]) stay plain XLA dots fed by transposing copies (the lead in issue 12); the trace
cannot time them (their events cover the dispatch only, under 10 ms a step). The embedding
gather costs 0.3% of the step, so a one-hot matmul lookup (2 x 4096 x 320 x 256 FLOPs forward and
as many backward: 1.3 GFLOP, 1.5% of the step's) would not pay on the CPU; it stays a gather.
"""

import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import sys

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from experiments.benchmarks.step_timing import (
    OPTIMIZER,
    peak_flops,
    report_memory,
    say,
    summarize,
    time_steps,
)
from research.models import transformer_lm
from research.train import host_memory
from research.train.losses import softmax_cross_entropy
from research.train.optimizer import make_optimizer
from research.train.state import TrainState
from research.train.step import make_train_step


@dataclasses.dataclass(frozen=True)
class Settings:
    variant: str | None  # a transformer_lm.VARIANTS key, or None for the Config defaults
    overrides: dict  # transformer_lm Config fields on top of the variant
    batch: int
    seq_len: int
    dtype: str  # compute dtype; params stay float32
    attention_impls: tuple  # JAX attention implementations to measure; the fastest is the headline
    torch_compile: bool
    steps: int
    warmup: int


PRESETS = {
    # The main job's shapes (experiments/configs/lm/gpt_tiny.py): 'tiny' at 32 x 128 tokens.
    "cpu": Settings(
        "tiny",
        dict(max_len=128),
        32,
        128,
        "float32",
        (None, "xla", "blockwise"),
        False,
        steps=10,
        warmup=2,
    ),
    "gpu": Settings("gpt2_small", {}, 16, 1024, "bfloat16", ("cudnn",), True, 20, 10),
    "smoke": Settings(
        None,
        dict(num_layers=2, embed_dim=64, num_heads=4, mlp_dim=256, max_len=32),
        batch=2,
        seq_len=32,
        dtype="float32",
        attention_impls=(None, "xla"),
        torch_compile=False,
        steps=2,
        warmup=0,
    ),
}

_PRESET = flags.DEFINE_enum("preset", None, list(PRESETS), "Default: gpu on a GPU, else cpu.")
_STEPS = flags.DEFINE_integer("steps", None, "Timed steps (default: the preset's).")
_WARMUP = flags.DEFINE_integer("warmup", None, "Untimed steps after the first one.")
_BATCH = flags.DEFINE_integer("batch", None, "Sequences per step.")
_SEQ_LEN = flags.DEFINE_integer("seq_len", None, "Tokens per sequence.")
_DTYPE = flags.DEFINE_enum("dtype", None, ["float32", "bfloat16"], "Compute dtype.")
_ATTENTION = flags.DEFINE_enum(
    "attention_impl",
    None,
    ["none", "xla", "cudnn", "blockwise"],
    "JAX attention ('none': einsum path).",
)
_TORCH_COMPILE = flags.DEFINE_boolean("torch_compile", None, "Wrap the PyTorch step in compile.")
_SKIP_TORCH = flags.DEFINE_boolean(
    "skip_torch", False, "Measure only the JAX side (e.g. to compare XLA_FLAGS settings)."
)
_JSON_OUT = flags.DEFINE_string("json_out", None, "Write all results as JSON to this path.")


def jax_step(config, host_params, tokens, s: Settings):
    """Our jitted train step on JAX's default device, from `host_params` (numpy).

    Returns (step, sync, hlo_text): `step()` runs one optimizer step and returns its loss;
    `sync()` waits for the device; `hlo_text()` is the compiled step's optimized HLO.
    """
    model = transformer_lm.Model(config)
    tx = make_optimizer(OPTIMIZER, s.warmup + s.steps + 1)

    def loss_fn(params, model_state, batch, rng, train):
        logits = model.apply(
            {"params": params, **model_state}, batch["inputs"], train=train, rngs={"dropout": rng}
        )  # [B,T,V] float32
        total, count = softmax_cross_entropy(logits, batch["targets"])
        return total / count, {"loss": (total, count)}, model_state

    train_step = jax.jit(make_train_step(loss_fn, tx, 0, False), donate_argnums=0)
    batch = {"inputs": jnp.asarray(tokens[:, :-1]), "targets": jnp.asarray(tokens[:, 1:])}
    holder = {"state": TrainState.create(jax.device_put(host_params), tx)}

    def step():  # the loss stays a (total, count) pair on the device: no extra dispatch
        holder["state"], metrics = train_step(holder["state"], batch)
        return metrics["loss"]

    def hlo_text():
        return train_step.lower(holder["state"], batch).compile().as_text()

    return step, lambda: jax.block_until_ready(holder["state"]), hlo_text


def bench_jax(config, host_params, tokens, s: Settings, **report) -> dict:
    """Times `jax_step`."""
    step, sync, _ = jax_step(config, host_params, tokens, s)
    timing = time_steps(step, sync, steps=s.steps, warmup=s.warmup)
    name = f"jax attention={config.attention_impl or 'einsum'}"
    result = dict(summarize(name, timing, **report), attention_impl=config.attention_impl)
    return report_memory(result, "jax")


def torch_step(config, host_params, tokens, s: Settings, compiled: bool):
    """The PyTorch peer from the same weights and tokens; CUDA when available.

    Returns (step, sync, device) like `jax_step`.
    """
    import torch  # here, not at the top: --skip_torch must work without PyTorch installed
    import torch.nn.functional as F

    from experiments.benchmarks import torch_gpt

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32, like XLA's default on GPUs
    model = torch_gpt.load_from_jax(torch_gpt.GPT(config), host_params).to(device)
    opt = torch.optim.AdamW(
        torch_gpt.decay_groups(model, OPTIMIZER.weight_decay),
        lr=OPTIMIZER.learning_rate,
        betas=(OPTIMIZER.b1, OPTIMIZER.b2),
        eps=OPTIMIZER.eps,
        fused=device == "cuda",
    )

    def lm_loss(inputs, targets):  # [B,T], [B,T] -> mean cross-entropy, float32
        logits = model(inputs)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())

    loss_fn = torch.compile(lm_loss) if compiled else lm_loss
    autocast_dtype = torch.bfloat16 if s.dtype == "bfloat16" else torch.float32
    data = torch.from_numpy(tokens).long().to(device)
    inputs, targets = data[:, :-1], data[:, 1:]

    def step():
        with torch.autocast(device, dtype=autocast_dtype, enabled=s.dtype != "float32"):
            loss = loss_fn(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIMIZER.grad_clip_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    return step, sync, device


def bench_torch(config, host_params, tokens, s: Settings, **report) -> dict:
    """Times `torch_step` (compiled if the settings say so, eager if compilation fails)."""
    step, sync, device = torch_step(config, host_params, tokens, s, s.torch_compile)
    name = f"torch {'compile' if s.torch_compile else 'eager'} on {device}"
    try:
        timing = time_steps(step, sync, steps=s.steps, warmup=s.warmup)
    except Exception as error:  # a compiler failure should not cost the eager number
        if not s.torch_compile:
            raise
        say(f"torch.compile failed ({type(error).__name__}: {str(error)[:300]}); eager instead.")
        step, sync, device = torch_step(config, host_params, tokens, s, False)
        name = f"torch eager on {device}"
        timing = time_steps(step, sync, steps=s.steps, warmup=s.warmup)
    return report_memory(summarize(name, timing, **report), "torch")


def params_and_tokens(config, s: Settings):
    """Fresh parameters (numpy, host) and one token batch int32 [batch, seq_len + 1]."""
    tokens = np.random.default_rng(0).integers(0, config.vocab_size, (s.batch, s.seq_len + 1))
    tokens = tokens.astype(np.int32)
    init_inputs = jnp.zeros((1, s.seq_len), jnp.int32)
    init = jax.jit(lambda rng, x: nn.meta.unbox(transformer_lm.Model(config).init(rng, x)))
    return jax.device_get(init(jax.random.key(0), init_inputs)["params"]), tokens


def run(s: Settings, json_out: str | None = None, skip_torch: bool = False) -> dict:
    """Measures both sides, prints as it goes, and returns (and optionally writes) the results."""
    config = transformer_lm.make(s.variant, **s.overrides, dtype=s.dtype).config
    device_name = jax.devices()[0].device_kind
    torch = None if skip_torch else importlib.import_module("torch")
    torch_device = (
        "not measured"
        if torch is None
        else (torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")
    )
    versions = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": importlib.metadata.version("jaxlib"),
        "flax": flax.__version__,
        "optax": optax.__version__,
        "torch": "not imported" if torch is None else torch.__version__,
    }
    flops = transformer_lm.flops_per_token(config, s.seq_len)
    report = dict(
        tokens_per_step=s.batch * s.seq_len,
        flops_per_token=flops,
        peak=peak_flops(device_name, s.dtype),
    )
    say(" ".join(f"{k} {v}" for k, v in versions.items()))
    say(f"JAX device: {device_name} ({jax.default_backend()}); torch device: {torch_device}")
    threads = "-" if torch is None else torch.get_num_threads()
    say(f"torch threads {threads}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    say(f"settings: {s}")
    say(
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r} (huge pages for XLA's CPU "
        f"temporaries, research.train.host_memory: {host_memory.huge_pages_active()})"
    )
    say(
        f"model: {transformer_lm.num_params(config):,} params, {flops / 1e6:.1f} MFLOP/token, "
        f"batch {s.batch} x {s.seq_len} tokens"
    )

    host_params, tokens = params_and_tokens(config, s)

    # PyTorch first: its caching allocator hands memory back (empty_cache), XLA's does not.
    torch_result = None if skip_torch else bench_torch(config, host_params, tokens, s, **report)
    gc.collect()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()

    jax_runs, impls = [], list(s.attention_impls)
    while impls:
        impl = impls.pop(0)
        try:
            cfg = dataclasses.replace(config, attention_impl=impl)
            jax_runs.append(bench_jax(cfg, host_params, tokens, s, **report))
        except Exception as error:  # e.g. cuDNN attention unavailable for this GPU or version
            say(f"jax attention={impl!r} failed: {type(error).__name__}: {str(error)[:300]}")
            if not jax_runs and not impls and impl != "xla":
                say("falling back to attention_impl='xla'")
                impls.append("xla")
    if not jax_runs:
        raise RuntimeError("every JAX attention implementation failed; see the messages above.")
    headline = max(jax_runs, key=lambda r: r["tokens_per_s"])
    ratio = pipelined_ratio = None
    if torch_result is not None:
        ratio = headline["tokens_per_s"] / torch_result["tokens_per_s"]
        pipelined_ratio = (
            headline["pipelined_tokens_per_s"] / torch_result["pipelined_tokens_per_s"]
        )
        say(f"JAX ({headline['name']}) / PyTorch tokens/s: {ratio:.3f}")
        say(f"JAX ({headline['name']}) / PyTorch tokens/s, back to back: {pipelined_ratio:.3f}")

    results = dict(
        settings=dataclasses.asdict(s),
        versions=versions,
        device=device_name,
        torch_device=torch_device,
        flops_per_token=flops,
        jax=headline,
        jax_runs=jax_runs,
        torch=torch_result,
        ratio_jax_over_torch=ratio,
        pipelined_ratio_jax_over_torch=pipelined_ratio,
    )
    if json_out:
        with open(json_out, "w") as f:
            json.dump(results, f, indent=2)
        say(f"wrote {json_out}")
    return results


def settings_from_flags() -> Settings:
    preset = _PRESET.value or ("gpu" if jax.default_backend() == "gpu" else "cpu")
    changes = dict(
        steps=_STEPS.value,
        warmup=_WARMUP.value,
        batch=_BATCH.value,
        seq_len=_SEQ_LEN.value,
        dtype=_DTYPE.value,
        torch_compile=_TORCH_COMPILE.value,
    )
    if _ATTENTION.value is not None:
        changes["attention_impls"] = (None if _ATTENTION.value == "none" else _ATTENTION.value,)
    s = dataclasses.replace(PRESETS[preset], **{k: v for k, v in changes.items() if v is not None})
    max_len = transformer_lm.make(s.variant, **s.overrides).config.max_len
    if s.seq_len > max_len:
        raise app.UsageError(f"--seq_len={s.seq_len} exceeds the model's max_len={max_len}.")
    return s


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; see --help.")
    run(settings_from_flags(), _JSON_OUT.value, skip_torch=_SKIP_TORCH.value)


if __name__ == "__main__":
    # XLA would otherwise grab 75% of the GPU at start-up and starve PyTorch's step.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    sys.exit(app.run(main))
