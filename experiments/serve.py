"""Serve a trained decoder over an OpenAI-compatible HTTP API on 127.0.0.1.

  python -m experiments.serve --config=experiments/configs/serve/gpt_tiny.py --workdir=runs/gpt_tiny

Serves the newest checkpoint of a language-model workdir (its config.json, tokenizer/ and
checkpoints/, `research.serve.served_model.from_workdir`), or with `--config.hf_folder=<folder>` a
Hugging Face GPT-2 folder. The engine (`research.serve.engine`) runs in one background thread
(`research.serve.async_engine`); the API (`research.serve.http_server`) answers
/v1/completions, /v1/chat/completions, /v1/models and /health until SIGINT or SIGTERM, then shuts
down cleanly (open requests get config.shutdown_grace_s seconds, the rest are aborted). See the
config file's docstring for the knobs and a curl example.
"""

from experiments import entry
from research.serve import served_model
from research.serve.async_engine import AsyncEngine
from research.serve.engine import Engine
from research.serve.http_server import create_app
from research.serve.loopback_server import LoopbackServer
from research.serve.sampling_params import SamplingParams


def main(config, workdir) -> None:
    if config.hf_folder:
        served = served_model.from_hf_folder(config.hf_folder, config.model_name or None)
    else:
        served = served_model.from_workdir(workdir, config.model_name or None)
    tokenizer = served.tokenizer
    engine = Engine(
        served.model,
        served.params,
        num_blocks=config.num_blocks,
        block_size=config.block_size,
        max_seqs=config.max_seqs,
        chunk_size=config.chunk_size,
        max_step_tokens=config.max_step_tokens,
        max_length=config.max_length or None,
        eos_id=tokenizer.eos_id,
        detokenize=tokenizer.decode,
    )
    # Compile the one-request prefill and decode steps now, not on the first client's time (a
    # one-token prompt would run as a decode step: two tokens make it a prefill chunk).
    engine.generate([[0, 0]], SamplingParams(max_tokens=2, temperature=0.0, ignore_eos=True))
    app = create_app(
        AsyncEngine(engine, max_waiting=config.max_waiting),
        tokenizer,
        model_name=served.name,
        shutdown_grace_s=config.shutdown_grace_s,
    )
    server = LoopbackServer(app, port=config.port, graceful_s=config.shutdown_grace_s)
    print(f"Serving {served.name!r} at {server.url}/v1 (OpenAI API); Ctrl-C stops.", flush=True)
    server.run()
    print("Server stopped.", flush=True)


if __name__ == "__main__":
    entry.run(main)
