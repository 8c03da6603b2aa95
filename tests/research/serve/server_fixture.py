"""The tiny served model every server test shares: one process-wide model, so the engine's jitted
steps compile once per shape for all of them (each new shape costs ~2 s on the 2-core CPU).

Few shapes on purpose: block_size 8, chunk_size 16, max_seqs 2
(rows 1 or 2), and requests of at most 8 positions (one block) except where a test needs more.
"""

import contextlib
import functools
import threading

import jax
import jax.numpy as jnp

from research.models import transformer_lm
from research.serve.async_engine import AsyncEngine
from research.serve.engine import Engine
from research.serve.http_server import create_app
from research.serve.loopback_server import LoopbackServer
from research.serve.sampling_params import SamplingParams
from research.text.byte_tokenizer import ByteTokenizer

MODEL_NAME = "tiny-test"
TOKENIZER = ByteTokenizer()
SETTINGS = dict(num_blocks=48, block_size=8, max_seqs=2, chunk_size=16, max_step_tokens=64)
MAX_WAITING = 14  # capacity 16: the load test's 16 clients fit, a 17th request gets 429
# The load test's prompts: 4 bytes each, 4 new tokens: 8 positions, one block.
# Chosen so that the tiny model answers each differently (a swapped answer shows).
PROMPTS = ["def ", "for ", "clas", "imp ", "x = ", "with", "try:", "0123"]
GREEDY = SamplingParams(max_tokens=4, temperature=0.0)


@functools.cache
def tiny_lm():
    """(model, params): 1 layer, width 32, 64 positions, byte vocabulary."""
    model = transformer_lm.make(
        "tiny", num_layers=1, embed_dim=32, num_heads=2, mlp_dim=64, max_len=64, vocab_size=257
    )
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"]
    # Larger weights than the init's: the logits spread out, so greedy choices have no near-ties.
    return model, jax.tree.map(lambda p: p * 4.0, params)


def new_engine(**settings) -> Engine:
    model, params = tiny_lm()
    return Engine(model, params, **(SETTINGS | settings), eos_id=TOKENIZER.eos_id,
                  detokenize=TOKENIZER.decode)  # fmt: skip


def expected_texts(engine: Engine, prompts, params=GREEDY) -> list[str]:
    """What the engine alone answers greedily (call before an AsyncEngine owns it)."""
    outputs = engine.generate([TOKENIZER.encode(p) for p in prompts], params)
    return [o.text for o in outputs]


@contextlib.contextmanager
def running_server(engine: Engine, max_waiting: int = MAX_WAITING):
    """(LoopbackServer, AsyncEngine) serving `engine` from a thread on a free port; stopped after."""
    async_engine = AsyncEngine(engine, max_waiting=max_waiting)
    app = create_app(async_engine, TOKENIZER, model_name=MODEL_NAME, shutdown_grace_s=2.0)
    server = LoopbackServer(app, port=0, graceful_s=2.0)
    server.start()
    try:
        yield server, async_engine
    finally:
        server.stop()
        async_engine.shutdown()


class StepGate:
    """Holds the engine thread before each step until `open` (tests of queueing and aborts)."""

    def __init__(self, engine: Engine):
        self.engine, self.step = engine, engine.step
        self.opened = threading.Event()

    def __enter__(self):
        self.engine.step = lambda: self.opened.wait() and self.step()
        return self

    def open(self):
        self.opened.set()

    def __exit__(self, *exc):
        self.opened.set()
        del self.engine.step  # the class's method again
