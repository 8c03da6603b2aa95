"""The gpt-fast-style PyTorch decoder greedily continues prompts with exactly the tokens of the
serving engine, from the same weights: the peer of the serve_decode benchmark computes the same
function (a wrong transpose, head split, position or cache write changes the tokens within a few
steps). That the engine's tokens equal `research.generate.decoding.decode`'s is
tests/research/serve/engine_test.py's."""

import jax
import jax.numpy as jnp
import numpy as np

from research.models import transformer_lm
from research.serve.engine import Engine
from research.serve.sampling_params import SamplingParams
from tests.reference_packages import import_reference

torch = import_reference("torch")

from experiments.benchmarks import torch_static_decoder  # noqa: E402  (needs torch)

PROMPT, NEW_TOKENS, ROWS = 20, 12, 3
GREEDY = SamplingParams(max_tokens=NEW_TOKENS, temperature=0.0)


def random_params(model, seed=0):
    """Numpy parameters of `model`'s tree, drawn without running its init (fast on a busy CPU):
    unit-ish LayerNorm scales, every other leaf N(0, 0.5^2) so that greedy choices have no
    near-ties (the init's 0.02 gives nearly flat logits)."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 1), jnp.int32)))
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map_with_path(
        lambda path, s: (
            (1.0 if jax.tree_util.keystr(path).endswith("['scale']") else 0.0)
            + rng.normal(0.0, 0.5, s.shape).astype(np.float32)
        ),
        shapes["params"],
    )


def test_static_decoder_tokens_equal_the_engines():
    model = transformer_lm.make(
        "tiny", num_layers=2, embed_dim=32, num_heads=2, mlp_dim=64, max_len=64
    )
    params = random_params(model)
    prompts = np.random.default_rng(1).integers(0, 256, (ROWS, PROMPT))

    peer = torch_static_decoder.from_params(params, model.config)
    theirs, their_logits = torch_static_decoder.generate(
        peer, torch.from_numpy(prompts), NEW_TOKENS, return_logits=True
    )

    # Every prompt prefills in one step, then the rows decode together: two compilations.
    engine = Engine(
        model, params, num_blocks=16, max_seqs=4, chunk_size=32, max_step_tokens=64,
        record_logits=True,
    )  # fmt: skip
    ids = [engine.add_request(p, GREEDY) for p in prompts.tolist()]
    tokens, logits = {i: [] for i in ids}, {i: [] for i in ids}
    while engine.has_work:
        for output in engine.step():
            tokens[output.request_id] += output.new_token_ids
            logits[output.request_id].append(output.logits)
    np.testing.assert_array_equal(theirs.numpy(), [tokens[i] for i in ids])
    # The logits too: argmax alone can hide a mask or position bug that shifts every score a bit.
    np.testing.assert_allclose(
        their_logits.numpy(), [np.stack(logits[i]) for i in ids], rtol=0, atol=1e-4
    )
    assert len(engine.compilations) == 2, engine.compilations
