"""Benchmark: the serving engine's greedy decode against a gpt-fast-style PyTorch decoder, and
continuous against static batching on a mixed-length workload.

  taskset -c 0 python -m experiments.benchmarks.serve_decode     # everything: 16 min on 1 shared core
  (1 thread each side: with 2 OpenMP threads on a loaded 2-core VM, PyTorch eager collapsed 5-8x)
  python -m experiments.benchmarks.serve_decode --models=tiny --batches=1 --rounds=1 --requests=16

1. Decode: for each model in --models ('tiny': the main job's model; 'gpt2_small': GPT-2 small's
   shapes, 124M parameters) and each batch in --batches, B prompts of --prompt_len random tokens
   are continued by --new_tokens greedy tokens, by `research.serve.engine.Engine.generate`
   (max_seqs = B, the prompts prefilled in one chunk) and by
   `experiments.benchmarks.torch_static_decoder` (static [B,N,L,H] caches, eager; with
   --torch_compile also its decode step under `torch.compile`) from the same RANDOM weights
   (N(0, 0.1^2), LayerNorm scales 1: trained weights decode at the same speed). Each side is
   warmed up once (the engine's compilations are excluded and counted), then the sides alternate
   for --rounds rounds; a round times one whole generate (prefill + new tokens, as gpt-fast's
   tokens/s does). Reported: new tokens/s (B * new_tokens / seconds), median and min-max over
   rounds, and the ratio ours/torch of the medians. Target >= 1.0x. The fraction of tokens on
   which the two sides agree is printed as a sanity check (float32 both; near-ties may differ).
2. Workload: --requests requests with prompt lengths and max_tokens drawn uniformly from
   [--min_len, --max_len] (seeded) on the 'tiny' model. Continuous: all requests into one engine
   (max_seqs --max_seqs), as they finish others join. Static: batches of max_seqs requests in
   arrival order, each a left-padded batch decoded until its longest answer is done
   (`research.generate.decoding.decode`, one jitted loop per batch, as Hugging Face's `generate`
   batches), then the next. Output tokens/s of each (alternated rounds, medians) and the ratio
   continuous/static. Target >= 2x. Also printed: the token positions each computes (static: every
   row of a batch, prompt padding included, for as many steps as its longest answer); where a
   step costs in proportion to its rows, as on a CPU, their ratio bounds what continuous batching
   can gain.
3. Profile (--profile): where an engine decode step's time goes: the scheduler, the host work
   of `_run` (padding arrays, outputs), the jitted call's dispatch and its wait, measured by
   wrapping those functions with perf_counter during one generate; plus the device time of the
   sampling rule (`choose_tokens`) alone against a plain argmax on logits [B,V].

Runs with GLIBC_TUNABLES set by `python -m experiments` (the same malloc for both sides).
"""

import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from research.generate.decoding import decode
from research.generate.sampling import TokenChooser, left_pad
from research.models import transformer_lm
from research.serve import engine as engine_module
from research.serve.engine import Engine
from research.serve.sampling_params import SamplingParams, choose_tokens

_MODELS = flags.DEFINE_list("models", ["tiny", "gpt2_small"], "transformer_lm variants to decode.")
_BATCHES = flags.DEFINE_list("batches", ["1", "16"], "Decode batch sizes.")
_PROMPT_LEN = flags.DEFINE_integer("prompt_len", 32, "Prompt tokens per row (decode benchmark).")
_NEW_TOKENS = flags.DEFINE_integer("new_tokens", 128, "New tokens per row (decode benchmark).")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Timed rounds per side (alternated).")
_TORCH_COMPILE = flags.DEFINE_boolean("torch_compile", False, "Also time torch.compile'd decode.")
_REQUESTS = flags.DEFINE_integer("requests", 64, "Requests in the mixed workload (0: skip it).")
_MIN_LEN = flags.DEFINE_integer("min_len", 8, "Shortest prompt / max_tokens in the workload.")
_MAX_LEN = flags.DEFINE_integer("max_len", 128, "Longest prompt / max_tokens in the workload.")
_MAX_SEQS = flags.DEFINE_integer("max_seqs", 16, "Engine batch for the workload.")
_PROFILE = flags.DEFINE_boolean("profile", True, "Break an engine decode step down.")
_SKIP_TORCH = flags.DEFINE_boolean("skip_torch", False, "Engine only (no PyTorch).")

BLOCK = 16


def say(text: str = "") -> None:
    print(text, flush=True)


def header(torch) -> None:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    say(f"CPU: {cpu}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()}")
    say(
        f"python {sys.version.split()[0]}, jax {jax.__version__} ({jax.default_backend()}), "
        f"torch {'-' if torch is None else torch.__version__}"
    )
    say(
        f"threads: torch {'-' if torch is None else torch.get_num_threads()}, XLA CPU pool "
        f"{len(os.sched_getaffinity(0))} (CPUs this process may use); "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r} "
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}"
    )


def random_params(model, seed: int = 0):
    """Numpy params of `model`'s tree: N(0, 0.1^2) everywhere but LayerNorm scales (1)."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 1), jnp.int32)))
    rng = np.random.default_rng(seed)

    def draw(path, s):
        if jax.tree_util.keystr(path).endswith("['scale']"):
            return np.ones(s.shape, np.float32)
        return (0.1 * rng.standard_normal(s.shape, np.float32)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes["params"])


def spread(values) -> str:
    return f"{statistics.median(values):10,.1f} [{min(values):,.1f}-{max(values):,.1f}]"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# 1. Decode: engine against the static-cache PyTorch decoder.


def bench_decode(variant: str, batch: int, torch, rows: list) -> None:
    model = transformer_lm.make(variant)
    host_params = random_params(model)
    params = jax.device_put(host_params)  # numpy leaves would be copied in at every call
    p, n = _PROMPT_LEN.value, _NEW_TOKENS.value
    rng = np.random.default_rng(1)

    def new_prompts():
        """Fresh prompts for every round, the same for every side of it: repeated prompts would
        hit the engine's prefix cache and skip its prefill."""
        return rng.integers(0, model.config.vocab_size - 1, (batch, p))

    blocks = batch * -(-(p + n) // BLOCK) + 1
    engine = Engine(
        model, params, num_blocks=blocks, block_size=BLOCK, max_seqs=batch,
        chunk_size=p, max_step_tokens=max(batch * p, 256),
    )  # fmt: skip
    greedy = SamplingParams(max_tokens=n, temperature=0.0)

    def ours(prompts):
        return np.array([o.token_ids for o in engine.generate(prompts.tolist(), greedy)])

    sides = {"engine": ours}
    if torch is not None:
        from experiments.benchmarks import torch_static_decoder as tsd

        peer = tsd.from_params(host_params, model.config)
        sides["torch eager"] = lambda x: tsd.generate(peer, torch.from_numpy(x), n).numpy()
        if _TORCH_COMPILE.value:
            step = torch.compile(tsd.decode_one, fullgraph=True, dynamic=False)
            sides["torch compile"] = lambda x: tsd.generate(
                peer, torch.from_numpy(x), n, step=step
            ).numpy()
    prompts = new_prompts()
    tokens, first = {}, {}
    for name, fn in sides.items():
        tokens[name], first[name] = timed(lambda fn=fn: fn(prompts))
    compiles = len(engine.compilations)
    times = {name: [] for name in sides}
    for _ in range(_ROUNDS.value):
        prompts = new_prompts()
        for name, fn in sides.items():
            times[name].append(timed(lambda fn=fn, x=prompts: fn(x))[1])
    if len(engine.compilations) != compiles:
        raise RuntimeError(f"the engine compiled during timed rounds: {engine.compilations}")
    say(
        f"\n{variant} batch {batch}: {transformer_lm.num_params(model.config) / 1e6:.1f}M params, "
        f"prompt {p}, {n} new tokens; engine warm-up {first['engine']:.1f} s, {compiles} "
        f"compilations {engine.compilations}"
    )
    rates = {name: [batch * n / t for t in ts] for name, ts in times.items()}
    for name in sides:
        agree = (tokens[name] == tokens["engine"]).mean()
        say(
            f"  {name:<14} tokens/s {spread(rates[name])}  ms/token-step "
            f"{statistics.median(times[name]) / n * 1e3:7.2f}  first call {first[name]:6.1f} s  "
            f"tokens equal to engine's {agree:.0%}"
        )
    for name in sides:
        if name != "engine":
            ratio = statistics.median(rates["engine"]) / statistics.median(rates[name])
            per_round = [a / b for a, b in zip(rates["engine"], rates[name], strict=True)]
            say(
                f"  ours/{name}: {ratio:.2f}x (per round {min(per_round):.2f}-{max(per_round):.2f})"
            )
            rows.append((variant, batch, name, rates, ratio))
    if _PROFILE.value:
        profile_engine(engine, new_prompts(), greedy)
        profile_sampling(batch, model.config.vocab_size)


# 2. Continuous against static batching.


def bench_workload() -> None:
    model = transformer_lm.make("tiny")
    params = jax.device_put(random_params(model))
    rng = np.random.default_rng(0)
    lo, hi, count = _MIN_LEN.value, _MAX_LEN.value, _REQUESTS.value
    prompt_lens, max_tokens = rng.integers(lo, hi + 1, count), rng.integers(lo, hi + 1, count)
    settings = [SamplingParams(max_tokens=int(m), temperature=0.0) for m in max_tokens]

    def new_prompts():
        """The same lengths with fresh tokens: repeated prompts would hit the prefix cache."""
        return [rng.integers(0, 256, k).tolist() for k in prompt_lens]

    seqs = _MAX_SEQS.value
    blocks = seqs * -(-(hi + hi) // BLOCK) + 1  # room for max_seqs of the longest requests
    engine = Engine(model, params, num_blocks=blocks, block_size=BLOCK, max_seqs=seqs)

    def continuous(prompts):
        return engine.generate(prompts, settings)

    def static(prompts):
        out = []
        for i in range(0, count, seqs):
            tokens, mask = left_pad(prompts[i : i + seqs])
            wanted = [int(m) for m in max_tokens[i : i + seqs]]
            new = decode(
                model, params, jnp.asarray(tokens), num_tokens=max(wanted),
                select=TokenChooser(0.0), rng=jax.random.PRNGKey(0), prompt_mask=jnp.asarray(mask),
            )  # fmt: skip
            out += [list(row[:n]) for row, n in zip(np.asarray(new).tolist(), wanted, strict=True)]
        return out

    def positions_computed():
        static_work = sum(
            min(seqs, count - i)
            * (int(prompt_lens[i : i + seqs].max()) + int(max_tokens[i : i + seqs].max()))
            for i in range(0, count, seqs)
        )
        return int((prompt_lens + max_tokens).sum()), static_work

    sides = {"continuous": continuous, "static": static}
    prompts = new_prompts()
    outputs, first, steps = {}, {}, {}
    for name, fn in sides.items():
        outputs[name], first[name] = timed(lambda fn=fn: fn(prompts))
    agree = np.mean(
        [a == b.token_ids for a, b in zip(outputs["static"], outputs["continuous"], strict=True)]
    )
    total = int(max_tokens.sum())
    times = {name: [] for name in sides}
    for _ in range(_ROUNDS.value):
        for name, fn in sides.items():
            prompts = new_prompts()
            times[name].append(timed(lambda fn=fn, x=prompts: fn(x))[1])
    steps["continuous"] = count_steps(engine, lambda: continuous(new_prompts()))
    say(
        f"\nworkload: {count} requests on tiny, prompts and max_tokens uniform in [{lo}, {hi}] "
        f"(seed 0), {total} output tokens, max_seqs {seqs}; {len(engine.compilations)} "
        f"compilations (warm-up {first['continuous']:.1f} + {first['static']:.1f} s)"
    )
    rates = {name: [total / t for t in ts] for name, ts in times.items()}
    continuous_work, static_work = positions_computed()
    say(f"  continuous  output tokens/s {spread(rates['continuous'])}  engine steps "
        f"{steps['continuous']}  positions computed {continuous_work}")  # fmt: skip
    say(f"  static      output tokens/s {spread(rates['static'])}  positions computed "
        f"{static_work} (padded work {static_work / continuous_work:.2f}x)")  # fmt: skip
    say(f"  requests with equal tokens on both sides: {agree:.0%}")
    per_round = [a / b for a, b in zip(rates["continuous"], rates["static"], strict=True)]
    ratio = statistics.median(rates["continuous"]) / statistics.median(rates["static"])
    say(f"  continuous/static: {ratio:.2f}x (per round {min(per_round):.2f}-{max(per_round):.2f})")


def count_steps(engine, fn) -> int:
    calls = [0]
    original = engine.step

    def counted():
        calls[0] += 1
        return original()

    engine.step = counted
    try:
        fn()
    finally:
        del engine.step
    return calls[0]


# 3. Profile.


def profile_engine(engine, prompts, greedy) -> None:
    """One generate with perf_counter around the scheduler, the jitted call (dispatch, then the
    wait for its result) and the whole step; the rest of the step is the engine's host work."""
    spent = {"step": 0.0, "schedule": 0.0, "dispatch": 0.0, "wait": 0.0}
    steps = [0]
    forward, schedule, step = engine_module._forward, engine.scheduler.schedule, engine.step

    def timed_forward(*args, **kwargs):
        start = time.perf_counter()
        out = forward(*args, **kwargs)
        mid = time.perf_counter()
        jax.block_until_ready(out)
        spent["dispatch"] += mid - start
        spent["wait"] += time.perf_counter() - mid
        return out

    def timed_schedule():
        start = time.perf_counter()
        plan = schedule()
        spent["schedule"] += time.perf_counter() - start
        return plan

    def timed_step():
        start = time.perf_counter()
        out = step()
        spent["step"] += time.perf_counter() - start
        steps[0] += 1
        return out

    engine_module._forward, engine.scheduler.schedule, engine.step = (
        timed_forward, timed_schedule, timed_step,
    )  # fmt: skip
    try:
        engine.generate(prompts.tolist(), greedy)
    finally:
        engine_module._forward = forward
        del engine.scheduler.schedule, engine.step
    other = spent["step"] - spent["schedule"] - spent["dispatch"] - spent["wait"]
    ms = {k: v / steps[0] * 1e3 for k, v in spent.items()}
    say(
        f"  profile, ms per engine step ({steps[0]} steps): step {ms['step']:.2f} = schedule "
        f"{ms['schedule']:.2f} + jit dispatch {ms['dispatch']:.2f} + device wait "
        f"{ms['wait']:.2f} + other host work {other / steps[0] * 1e3:.2f}"
    )


def profile_sampling(batch: int, vocab: int) -> None:
    """Device ms of the engine's per-row sampling rule against argmax, on logits [B,V]."""
    logits = jax.random.normal(jax.random.PRNGKey(0), (batch, vocab))
    zeros_f, ones_f = jnp.zeros(batch, jnp.float32), jnp.ones(batch, jnp.float32)
    zeros_i, seeds = jnp.zeros(batch, jnp.int32), jnp.zeros(batch, jnp.uint32)
    rule = jax.jit(lambda x: choose_tokens(x, zeros_f, zeros_i, ones_f, seeds, zeros_i))
    argmax = jax.jit(lambda x: jnp.argmax(x, -1))
    result = {}
    for name, fn in (("choose_tokens", rule), ("argmax", argmax)):
        jax.block_until_ready(fn(logits))
        times = [timed(lambda f=fn: jax.block_until_ready(f(logits)))[1] for _ in range(5)]
        result[name] = statistics.median(times) * 1e3
    say(
        f"  sampling on logits [{batch},{vocab}]: choose_tokens (greedy rows) "
        f"{result['choose_tokens']:.2f} ms, argmax {result['argmax']:.2f} ms"
    )


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; see --help.")
    torch = None
    if not _SKIP_TORCH.value:
        import torch  # noqa: PLC0415  (--skip_torch runs without it)
    header(torch)
    rows = []
    for variant in _MODELS.value:
        for batch in _BATCHES.value:
            bench_decode(variant, int(batch), torch, rows)
    if _REQUESTS.value:
        bench_workload()
    if rows:
        say("\n| model | batch | peer | engine tokens/s | peer tokens/s | ours/peer |")
        say("|---|---|---|---|---|---|")
        for variant, batch, name, rates, ratio in rows:
            say(
                f"| {variant} | {batch} | {name} | {spread(rates['engine']).strip()} | "
                f"{spread(rates[name]).strip()} | {ratio:.2f}x |"
            )


if __name__ == "__main__":
    app.run(main)
