"""Benchmark: one training step of GPT-2, BERT and T5 in JAX (ours) and in Hugging Face PyTorch.

  python -m experiments.benchmarks.family                     # 'gpu' shapes on a GPU, else 'cpu'
  python -m experiments.benchmarks.family --preset=gpu --models=bert,t5 --json_out=/tmp/f.json

For each model, in the same run and from the same weights (exported through our converters):
(a) our model (`research.models.transformer_lm` / `bert` / `t5`) with the framework's train step
    (`research.train.step`, AdamW with clipping, `jax.jit(..., donate_argnums=0)`, one device),
(b) the Hugging Face PyTorch model of the same shapes (`GPT2LMHeadModel`, `BertForMaskedLM`,
    `T5ForConditionalGeneration`, SDPA attention) with `torch.optim.AdamW` and `clip_grad_norm_`;
    eager on CPU, `torch.compile` and bf16 autocast on a GPU.
The step is forward + backward + optimizer update: next-token loss for GPT-2, a masked-LM loss at
every position for BERT (the head runs at every position in both implementations), and
teacher-forced cross-entropy for T5 (inputs of --seq_len tokens, targets of a quarter of that,
tokens/s counting both). Dropout is off on both sides, so the first-step losses must agree
(printed as a sanity check). It prints, per model and side, the first step's time (compilation
included), the median step, tokens/s, and the JAX/PyTorch tokens/s ratio, then a table.

The model pairs are built in `experiments/benchmarks/family_pairs.py`. Timing, flags and presets are
`experiments/benchmarks/train_step.py`'s (its helpers and flags are
reused; --models picks the models): 'cpu' is each family's 'tiny' preset at batch 8 x 128 tokens,
float32, einsum attention; 'gpu' is the published shapes (GPT-2 small at 16 x 1024, BERT-base at
16 x 512, T5-small at 16 x 512 -> 128), bf16 compute with fp32 params, cuDNN attention with an
'xla' fallback; 'smoke' is 2-layer models for tests. --batch, --seq_len, --steps, --warmup,
--dtype, --attention_impl, --torch_compile, --torch_threads override a preset for every model.

Measured (2026-11-26), preset cpu (float32, batch 8 x 128, 10 timed steps after 3), a shared
2-core AMD EPYC with a load average of ~10 from other jobs, jax 0.10.2 / torch 2.13 /
transformers 5.24; each row's first losses agreed (5.6093, 8.3530, 7.8301), about 4 min per run:

  one thread each (XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  ... --torch_threads=1): GPT-2 tiny 1,221 vs 1,624 tokens/s (JAX/PyTorch 0.75), BERT tiny
  2,305 vs 3,736 (0.62), T5 tiny 10,537 vs 7,832 (1.35).
  default threads: PyTorch's OpenMP kernels collapse on the oversubscribed cores (222, 463 and
  344 tokens/s; JAX 1,251, 2,182, 5,919: "ratios" 5.6, 4.7, 17), so compare with one thread each.
The 'gpu' preset was not run in this session (no GPU was lent to it).
"""

import dataclasses
import gc
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import torch
from absl import app, flags

from experiments.benchmarks import torch_gpt
from experiments.benchmarks.family_pairs import PAIRS, Bench, Shape, torch_loss

# Importing train_step also defines its flags (--preset, --steps, ...): they are this script's too.
from experiments.benchmarks.step_timing import OPTIMIZER, say, summarize, time_steps
from research.train.optimizer import make_optimizer
from research.train.state import TrainState
from research.train.step import make_train_step

MODELS = ("gpt2", "bert", "t5")
_MODELS = flags.DEFINE_list("models", list(MODELS), f"Which of {MODELS} to measure.")
_TORCH_THREADS = flags.DEFINE_integer(
    "torch_threads", None, "torch.set_num_threads (default: PyTorch's; 1 on oversubscribed CPUs)."
)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Settings:
    shapes: dict  # model name -> Shape
    dtype: str  # compute dtype; params stay float32
    attention_impls: tuple  # JAX attention implementations to try; the fastest is the headline
    torch_compile: bool
    steps: int
    warmup: int
    torch_threads: int | None = None  # None: PyTorch's default


SMOKE_T5 = dict(embed_dim=32, num_heads=2, head_dim=16, mlp_dim=64)
PRESETS = {
    "cpu": Settings(
        {
            "gpt2": Shape("tiny", dict(max_len=128), 8, 128),
            "bert": Shape("tiny", {}, 8, 128),
            "t5": Shape("tiny", {}, 8, 128),
        },
        "float32",
        (None,),
        False,
        steps=10,
        warmup=3,  # PyTorch's CPU kernels need a few steps before their times settle
    ),
    "gpu": Settings(
        {
            "gpt2": Shape("gpt2_small", {}, 16, 1024),
            "bert": Shape("base", {}, 16, 512),
            "t5": Shape("small", {}, 16, 512),
        },
        "bfloat16",
        ("cudnn",),
        True,
        steps=20,
        warmup=5,
    ),
    "smoke": Settings(
        {
            "gpt2": Shape(None, dict(num_layers=2, embed_dim=32, num_heads=2, mlp_dim=64), 2, 16),
            "bert": Shape("tiny", dict(num_layers=2, embed_dim=32, num_heads=2, mlp_dim=64), 2, 16),
            "t5": Shape("tiny", dict(SMOKE_T5, num_encoder_layers=1, num_decoder_layers=1), 2, 16),
        },
        "float32",
        (None,),
        False,
        steps=1,
        warmup=0,
    ),
}


def bench_jax(b: Bench, impl, s: Settings) -> dict:
    """Our model and the framework's train step on JAX's default device."""
    loss_fn, host_batch = b.make_jax(impl)
    tx = make_optimizer(OPTIMIZER, s.warmup + s.steps + 1)
    step_fn = jax.jit(make_train_step(loss_fn, tx, 0, False), donate_argnums=0)
    batch = jax.tree.map(jnp.asarray, host_batch)
    holder = {"state": TrainState.create(jax.device_put(b.params), tx)}

    def step():
        holder["state"], metrics = step_fn(holder["state"], batch)
        total, count = metrics["loss"]
        return total / count

    timing = time_steps(
        step, lambda: jax.block_until_ready(holder["state"]), steps=s.steps, warmup=s.warmup
    )
    name = f"  jax attention={impl or 'einsum'}"
    report = dict(tokens_per_step=b.tokens_per_step, flops_per_token=0.0, peak=None)
    return dict(summarize(name, timing, **report), attention_impl=impl)


def bench_torch(b: Bench, s: Settings) -> dict:
    """The Hugging Face model from the same weights and batch; CUDA when available."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32, like XLA's default on GPUs
    model = b.hf_model.to(device).train()
    opt = torch.optim.AdamW(
        torch_gpt.decay_groups(model, OPTIMIZER.weight_decay),
        lr=OPTIMIZER.learning_rate,
        betas=(OPTIMIZER.b1, OPTIMIZER.b2),
        eps=OPTIMIZER.eps,
        fused=device == "cuda",
    )
    batch = {k: torch.from_numpy(np.array(v)).long().to(device) for k, v in b.torch_batch.items()}
    loss_fn = torch.compile(torch_loss) if s.torch_compile else torch_loss
    autocast_dtype = torch.bfloat16 if s.dtype == "bfloat16" else torch.float32

    def step():
        with torch.autocast(device, dtype=autocast_dtype, enabled=s.dtype != "float32"):
            loss = loss_fn(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIMIZER.grad_clip_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    name = f"  torch {'compile' if s.torch_compile else 'eager'} on {device}"
    report = dict(tokens_per_step=b.tokens_per_step, flops_per_token=0.0, peak=None)
    try:
        timing = time_steps(step, sync, steps=s.steps, warmup=s.warmup)
    except Exception as error:  # a compiler failure should not cost the eager number
        if not s.torch_compile:
            raise
        say(f"  torch.compile failed ({type(error).__name__}: {str(error)[:300]}); eager instead.")
        loss_fn = torch_loss
        name = f"  torch eager on {device}"
        timing = time_steps(step, sync, steps=s.steps, warmup=s.warmup)
    return summarize(name, timing, **report)


def run_model(name: str, s: Settings, transformers, skip_torch: bool = False) -> dict:
    shape = s.shapes[name]
    b = PAIRS[name](shape, s.dtype, transformers, np.random.default_rng(0))
    say(
        f"{b.name} vs {b.hf_name}: {b.num_params:,} params, {shape}, "
        f"{b.tokens_per_step:,} tokens/step"
    )
    # PyTorch first: its caching allocator hands memory back (empty_cache), XLA's does not.
    torch_result = None if skip_torch else bench_torch(b, s)
    b.hf_model = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    runs, impls = [], list(s.attention_impls)
    while impls:
        impl = impls.pop(0)
        try:
            runs.append(bench_jax(b, impl, s))
        except Exception as error:  # e.g. cuDNN attention unavailable for these shapes
            say(f"  jax attention={impl!r} failed: {type(error).__name__}: {str(error)[:300]}")
            if not runs and not impls and impl != "xla":
                say("  falling back to attention_impl='xla'")
                impls.append("xla")
    if not runs:
        raise RuntimeError(f"every JAX attention implementation failed for {b.name}.")
    headline = max(runs, key=lambda r: r["tokens_per_s"])
    ratio = None
    if torch_result is not None:
        ratio = headline["tokens_per_s"] / torch_result["tokens_per_s"]
        say(f"  {b.name}: JAX ({headline['name'].strip()}) / PyTorch tokens/s: {ratio:.3f}")
    return dict(
        model=b.name,
        hf_model=b.hf_name,
        num_params=b.num_params,
        shape=dataclasses.asdict(shape),
        tokens_per_step=b.tokens_per_step,
        jax=headline,
        jax_runs=runs,
        torch=torch_result,
        ratio_jax_over_torch=ratio,
    )


def table(results: list[dict]) -> str:
    """A markdown table of the per-model results."""
    lines = [
        "| model | params | batch x length | PyTorch tokens/s | JAX tokens/s | JAX / PyTorch |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in results:
        torch_tps = "n/a" if r["torch"] is None else f"{r['torch']['tokens_per_s']:,.0f}"
        ratio = "n/a" if r["ratio_jax_over_torch"] is None else f"{r['ratio_jax_over_torch']:.2f}"
        lines.append(
            f"| {r['model']} | {r['num_params']:,} | {r['shape']['batch']} x "
            f"{r['shape']['seq_len']} | {torch_tps} | {r['jax']['tokens_per_s']:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def run(s: Settings, models, json_out: str | None = None, skip_torch: bool = False) -> dict:
    """Measures every model in `models`, prints as it goes; returns (and optionally writes) all."""
    import transformers  # the peers; imported here so that --help works without it

    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise app.UsageError(f"Unknown --models {unknown}; choose from {list(MODELS)}.")
    if s.torch_threads:
        torch.set_num_threads(s.torch_threads)
    torch_device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    say(
        f"jax {jax.__version__}, torch {torch.__version__}, transformers {transformers.__version__}"
    )
    say(f"JAX device: {jax.devices()[0].device_kind}; torch device: {torch_device}; "
        f"torch threads {torch.get_num_threads()}")  # fmt: skip
    say(
        f"dtype {s.dtype}, steps {s.steps} after {s.warmup} warmup, torch_compile {s.torch_compile}"
    )
    results = [run_model(name, s, transformers, skip_torch) for name in models]
    say(table(results))
    out = dict(
        settings=dict(
            dataclasses.asdict(s), shapes={k: dataclasses.asdict(v) for k, v in s.shapes.items()}
        ),
        device=jax.devices()[0].device_kind,
        torch_device=torch_device,
        results=results,
    )
    if json_out:
        with open(json_out, "w") as f:
            json.dump(out, f, indent=2)
        say(f"wrote {json_out}")
    return out


def settings_from_flags() -> Settings:
    preset = FLAGS.preset or ("gpu" if jax.default_backend() == "gpu" else "cpu")
    s = PRESETS[preset]
    shapes = {
        name: dataclasses.replace(
            shape,
            batch=FLAGS.batch or shape.batch,
            seq_len=FLAGS.seq_len or shape.seq_len,
        )
        for name, shape in s.shapes.items()
    }
    changes = dict(
        steps=FLAGS.steps,
        warmup=FLAGS.warmup,
        dtype=FLAGS.dtype,
        torch_compile=FLAGS.torch_compile,
        torch_threads=_TORCH_THREADS.value,
    )
    if FLAGS.attention_impl is not None:
        changes["attention_impls"] = (
            None if FLAGS.attention_impl == "none" else FLAGS.attention_impl,
        )
    return dataclasses.replace(
        s, shapes=shapes, **{k: v for k, v in changes.items() if v is not None}
    )


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; see --help.")
    run(settings_from_flags(), _MODELS.value, FLAGS.json_out, skip_torch=FLAGS.skip_torch)


if __name__ == "__main__":
    # XLA would otherwise grab 75% of the GPU at start-up and starve PyTorch's step.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    sys.exit(app.run(main))
