"""Benchmark: the OpenAI-compatible server under N concurrent streaming clients (loopback only).

  python -m experiments.benchmarks.serve_load --workdir=runs/gpt_tiny              # the main job
  python -m experiments.benchmarks.serve_load --workdir=runs/gpt_tiny --clients=64 --requests=4

Starts the server (`research.serve`) on a free 127.0.0.1 port in this process and sends clients x
requests streaming greedy completions, then prints requests/s, output tokens/s, time to first token
and p50 / p99 latency, and checks that no request was lost, duplicated or answered with another
prompt's text (`research.serve.load_generator`). Not a test: the serving tests run the same load
at 16 x 2 on a tiny model.

The timed figures exclude compilation. Before timing, the engine alone gives each prompt's
expected greedy text and then runs every step shape the load can use (`_compile_every_bucket`):
for each row bucket (powers of two up to max_seqs) that many requests answered to max_tokens
(every decode table width), and requests joining one per step (prefill chunks beside 0 to
max_seqs - 1 running rows); then one untimed round of max_seqs concurrent requests goes through
the server (HTTP, the engine thread, the client) and is discarded. The line ends with the number
of step shapes compiled during the timed part (`Engine.compilations`): 0 means the figures are
serving alone. Measured on the 2-core CPU with a `gpt_tiny.py:smoke` workdir (2 layers, width 64,
bytes), default flags: 0 compiled while timed (20 before), 128 requests in 2.98 s, 42.9
requests/s, 1374 output tokens/s, time to first token p50 422 ms, latency p50 742 / p99 838 ms;
without the warm-up the same run compiled 7 shapes while timed and took 19.65 s (p99 15.7 s).
"""

import argparse
import asyncio
import functools

from research.serve import served_model
from research.serve.async_engine import AsyncEngine
from research.serve.engine import Engine
from research.serve.http_server import create_app
from research.serve.load_generator import run_load
from research.serve.loopback_server import LoopbackServer
from research.serve.sampling_params import SamplingParams

PROMPTS = ["The ", "def ", "class ", "import ", "for i in ", "if x ", "return ", "with open("]


def _compile_every_bucket(engine: Engine, prompts, max_tokens: int) -> None:
    """Runs every step shape a load of these prompts can use, untimed (see the module doc).

    Decode steps: for each row bucket r, r requests answered to max_tokens (EOS ignored, so the
    block tables reach their widest). Prefill steps, which also carry the running rows' decode
    tokens: requests joining one per step until max_seqs run, so a prompt chunk meets 0, 1, ...
    max_seqs - 1 running rows."""
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    rows = [1 << i for i in range(engine.scheduler.max_seqs.bit_length())]
    for r in sorted({*rows, engine.scheduler.max_seqs}):
        engine.generate([prompts[i % len(prompts)] for i in range(r)], params)
    for i in range(engine.scheduler.max_seqs):
        engine.add_request(prompts[i % len(prompts)], params)
        engine.step()
    while engine.has_work:
        engine.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a trained language-model workdir")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--max_tokens", type=int, default=32)
    parser.add_argument("--max_seqs", type=int, default=16)
    parser.add_argument("--time_limit_s", type=float, default=600)
    args = parser.parse_args()
    served = served_model.from_workdir(args.workdir)
    tokenizer = served.tokenizer
    engine = Engine(
        served.model, served.params, num_blocks=1024, block_size=16, max_seqs=args.max_seqs,
        chunk_size=32, max_step_tokens=256, eos_id=tokenizer.eos_id, detokenize=tokenizer.decode,
    )  # fmt: skip
    greedy = SamplingParams(max_tokens=args.max_tokens, temperature=0.0)
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    expected = [o.text for o in engine.generate(prompts, greedy)]
    _compile_every_bucket(engine, prompts, args.max_tokens)
    async_engine = AsyncEngine(engine, max_waiting=args.clients * args.requests)
    app = create_app(async_engine, tokenizer, model_name=served.name)
    server = LoopbackServer(app, port=0)
    server.start()
    try:
        load = functools.partial(
            run_load, server.url + "/v1", served.name, PROMPTS, expected,
            max_tokens=args.max_tokens, time_limit_s=args.time_limit_s,
        )  # fmt: skip
        warm = asyncio.run(load(clients=args.max_seqs, requests_per_client=1))  # discarded
        warmed = len(engine.compilations)
        report = asyncio.run(load(clients=args.clients, requests_per_client=args.requests))
        timed = engine.compilations[warmed:]  # read after the engine thread's last step
    finally:
        server.stop()
    print(f"{served.name}, {args.clients} clients x {args.requests} requests, max_tokens "
          f"{args.max_tokens}, max_seqs {args.max_seqs}: {report.summary()}; "
          f"{len(timed)} step shapes compiled while timed {timed or ''}({warmed} before)")  # fmt: skip
    for problem in [*warm.problems, *report.problems][:10]:
        print("problem:", problem)


if __name__ == "__main__":
    main()
