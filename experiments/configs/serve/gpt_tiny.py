"""Serve the main job's GPT (or a Hugging Face GPT-2 folder) over an OpenAI-compatible HTTP API.

Run (after `make run` has trained runs/gpt_tiny):
  python -m experiments.serve --config=experiments/configs/serve/gpt_tiny.py --workdir=runs/gpt_tiny
then, from another shell (or with the official `openai` client, base_url http://127.0.0.1:8000/v1):
  curl http://127.0.0.1:8000/v1/completions -H 'Content-Type: application/json' \
    -d '{"model": "gpt_tiny", "prompt": "The ", "max_tokens": 40, "temperature": 0}'
Stop it with Ctrl-C or SIGTERM: it stops accepting, lets open requests finish for
shutdown_grace_s seconds, aborts the rest and exits 0.

A Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json; nothing downloads)
instead of the workdir's model: `--config.hf_folder=path/to/gpt2` (the --workdir is then not read).
Smoke mode (what the tests run: a small block pool, port 0 = a free port, printed at start):
  python -m experiments.serve --config=experiments/configs/serve/gpt_tiny.py:smoke --workdir=runs/gpt_tiny

Hardware: a CPU is enough for the main job's model (4 layers, width 256, 128-token context);
measured figures are in experiments/benchmarks/serve_load.py's docstring.
"""

import ml_collections

from experiments.configs.common import parse_arg


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = ml_collections.ConfigDict()
    config.hf_folder = ""  # a Hugging Face GPT-2 folder to serve instead of the workdir's model
    config.model_name = ""  # the name clients pass as "model"; "" = the workdir's / folder's name
    config.port = 8000  # on 127.0.0.1 only; 0 = a free port (printed)
    # The engine (research/serve/engine.py): a pool of num_blocks blocks of block_size positions,
    # max_seqs requests decoding at once, prompts read chunk_size tokens per step, at most
    # max_step_tokens tokens per step; max_length (prompt + answer) 0 = the model's max_len.
    config.num_blocks = 512
    config.block_size = 16
    config.max_seqs = 16
    config.chunk_size = 64
    config.max_step_tokens = 256
    config.max_length = 0
    config.max_waiting = 64  # requests waiting for a row beyond max_seqs; more get HTTP 429
    config.shutdown_grace_s = 5.0  # on SIGTERM: seconds open requests may finish in
    if smoke:
        config.port = 0
        config.num_blocks = 64
        config.block_size = 8
        config.max_seqs = 4
        config.chunk_size = 16
        config.max_step_tokens = 64
        config.max_waiting = 8
    return config
