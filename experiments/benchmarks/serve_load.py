"""Benchmark: the OpenAI-compatible server under N concurrent streaming clients (loopback only).

  python -m experiments.benchmarks.serve_load --workdir=runs/gpt_tiny              # the main job
  python -m experiments.benchmarks.serve_load --workdir=runs/gpt_tiny --clients=64 --requests=4

Starts the server (`research.serve`) on a free 127.0.0.1 port in this process, computes each
prompt's greedy answer with the engine alone first (which also compiles the step shapes, so the
figures are not compile time), then sends clients x requests streaming greedy completions and prints
requests/s, output tokens/s, time to first token and p50 / p99 latency, and checks that no request
was lost, duplicated or answered with another prompt's text (`research.serve.load_generator`).
Not a test: the serving tests run the same load at 16 x 2 on a tiny model.
"""

import argparse
import asyncio

from research.serve import served_model
from research.serve.async_engine import AsyncEngine
from research.serve.engine import Engine
from research.serve.http_server import create_app
from research.serve.load_generator import run_load
from research.serve.loopback_server import LoopbackServer
from research.serve.sampling_params import SamplingParams

PROMPTS = ["The ", "def ", "class ", "import ", "for i in ", "if x ", "return ", "with open("]


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
    expected = [o.text for o in engine.generate([tokenizer.encode(p) for p in PROMPTS], greedy)]
    async_engine = AsyncEngine(engine, max_waiting=args.clients * args.requests)
    app = create_app(async_engine, tokenizer, model_name=served.name)
    server = LoopbackServer(app, port=0)
    server.start()
    try:
        report = asyncio.run(run_load(
            server.url + "/v1", served.name, PROMPTS, expected, clients=args.clients,
            requests_per_client=args.requests, max_tokens=args.max_tokens,
            time_limit_s=args.time_limit_s,
        ))  # fmt: skip
    finally:
        server.stop()
    print(f"{served.name}, {args.clients} clients x {args.requests} requests, max_tokens "
          f"{args.max_tokens}, max_seqs {args.max_seqs}: {report.summary()}")  # fmt: skip
    for problem in report.problems[:10]:
        print("problem:", problem)


if __name__ == "__main__":
    main()
