"""The serving engine against the plain cached decode (`research.generate.decoding.decode`): the
same greedy tokens and logits for requests of mixed lengths that join at different steps, with
prefix sharing, copy on write and preemption; seeded sampling independent of the batch; a bounded
number of compilations; stops, aborts and bad requests.

One tiny model for the whole file (every distinct step shape compiles once per process)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.decoding import decode
from research.generate.sampling import TokenChooser, left_pad
from research.models import t5, transformer_lm
from research.serve.engine import Engine
from research.serve.sampling_params import SamplingParams
from research.sharding.mesh import make_mesh

BLOCK = 16
GREEDY = SamplingParams(max_tokens=10, temperature=0.0)


@pytest.fixture(scope="module")
def lm():
    model = transformer_lm.make(
        "tiny", num_layers=2, embed_dim=32, num_heads=2, mlp_dim=64, max_len=64
    )
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"]
    # Larger weights than the init's: the logits spread out, so greedy choices have no near-ties.
    params = jax.tree.map(lambda p: p * 4.0, params)
    return model, params


def engine(lm, **settings):
    model, params = lm
    defaults = dict(num_blocks=48, block_size=BLOCK, max_seqs=4, chunk_size=16, max_step_tokens=24)
    return Engine(model, params, **(defaults | settings))


def reference(lm, prompts, num_tokens):
    """Greedy tokens [B, num_tokens] and logits [B, num_tokens, V] of each prompt decoded alone
    (one left-padded batch: each row decodes as it would alone). Always 8 rows of 48 columns
    and 12 tokens, so every test shares one compilation."""
    model, params = lm
    tokens, mask = left_pad(list(prompts) + [[0] * 48] * (8 - len(prompts)))
    out, logits = decode(
        model, params, jnp.asarray(tokens), num_tokens=12, select=TokenChooser(0.0),
        rng=jax.random.PRNGKey(0), prompt_mask=jnp.asarray(mask), return_logits=True,
    )  # fmt: skip
    return np.asarray(out)[: len(prompts), :num_tokens], np.asarray(logits)[
        : len(prompts), :num_tokens
    ]


def run_collecting(eng, arrivals):
    """Drives `eng`; arrivals {step: [(prompt, params)]} join at that step -> {request_id:
    (tokens, [logits per token])}, and the request ids in arrival order."""
    ids, logits, final, step = [], {}, {}, 0
    while step in arrivals or eng.has_work or step <= max(arrivals):
        for prompt, params in arrivals.get(step, []):
            ids.append(eng.add_request(prompt, params))
        for output in eng.step():
            logits.setdefault(output.request_id, []).append(output.logits)
            if output.finish_reason is not None:
                final[output.request_id] = output.token_ids
        step += 1
    return {i: (final[i], np.stack(logits[i])) for i in ids}, ids


def random_prompts(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(0, 256, n)) for n in lengths]


def test_greedy_equals_decode_for_requests_joining_at_different_steps(lm):
    eng = engine(lm, record_logits=True)
    start_free = eng.num_free_blocks
    shared = random_prompts([2 * BLOCK + 3], seed=1)[0]  # 2 full blocks + 3 tokens
    prompts = (
        random_prompts([5, 30, 3, 17, 40], seed=2)
        + [
            shared,
            shared[: 2 * BLOCK] + [7, 8],  # shares 2 full blocks with `shared`
            shared[
                : 2 * BLOCK
            ],  # the whole prompt is shared: its last token rewrites a shared block
        ]
    )
    # `shared` (request 5) is cached from step 13 to its end at step 22 (the scheduler is
    # deterministic): the last two join at step 14 and share its blocks while it runs.
    arrivals = {0: prompts[:3], 2: prompts[3:6], 14: prompts[6:]}
    arrivals = {s: [(p, GREEDY) for p in ps] for s, ps in arrivals.items()}
    results, ids = run_collecting(eng, arrivals)
    want_tokens, want_logits = reference(lm, prompts, GREEDY.max_tokens)
    for row, request_id in enumerate(ids):
        tokens, logits = results[request_id]
        assert tokens == list(want_tokens[row]), row
        np.testing.assert_allclose(logits, want_logits[row], atol=2e-5, rtol=1e-5)
    assert eng.pool.num_prefix_hits >= 4  # 2 blocks for each of the last two prompts
    assert eng.num_block_copies >= 1  # the fully shared prompt copied its last block
    assert eng.num_free_blocks == start_free  # every block returned


def test_preemption_recomputes_and_still_equals_decode(lm):
    # 5 usable blocks for 4 sequences of 2 blocks each: someone must give blocks back.
    eng = engine(lm, num_blocks=6)
    prompts = random_prompts([20, 22, 18, 21], seed=3)
    params = SamplingParams(max_tokens=12, temperature=0.0)
    outputs = eng.generate(prompts, params)
    want, _ = reference(lm, prompts, 12)
    assert [o.token_ids for o in outputs] == [list(row) for row in want]
    assert eng.scheduler.num_preemptions > 0
    assert eng.num_free_blocks == 5


def test_a_chunk_padded_past_the_models_length_leaves_the_cache_finite(lm):
    # The second request shares 32 prompt positions and pads its 64-token chunk from 36 to 95;
    # its last block-table entry (of 4) is the null block, where positions >= 64 are written.
    eng = engine(lm, chunk_size=64, max_step_tokens=64)
    prompt = random_prompts([36], seed=13)[0]
    params = SamplingParams(max_tokens=3, temperature=0.0)
    first, second = (eng.generate([prompt], params)[0].token_ids for _ in range(2))
    assert eng.pool.num_prefix_hits == 2
    assert first == second == list(reference(lm, [prompt], 3)[0][0])


def test_sharded_serving_equals_one_device(lm):
    """8 devices (conftest's fake CPUs): rows over data=4, heads and the MLP over tensor=2."""
    mesh = make_mesh(data=4, tensor=2)
    prompts = random_prompts([7, 26, 3], seed=11)
    sampled = SamplingParams(max_tokens=6, temperature=0.8, seed=5)
    one = engine(lm, record_logits=True).generate(prompts, [GREEDY, GREEDY, sampled])
    eight = engine(lm, record_logits=True, mesh=mesh)
    assert eight.pages["block_0"][0].sharding.spec[2] == "tensor"
    assert eight.params["block_0"]["mlp"]["wi"]["kernel"].sharding.spec[1] == "tensor"
    outputs = eight.generate(prompts, [GREEDY, GREEDY, sampled])
    assert [o.token_ids for o in outputs] == [o.token_ids for o in one]
    assert {shape[1] for shape in eight.compilations} == {4}  # rows: whole data shards
    np.testing.assert_allclose(outputs[1].logits, one[1].logits, atol=2e-5, rtol=1e-5)


def test_seeded_request_gives_the_same_text_in_any_batch(lm):
    seeded = SamplingParams(max_tokens=8, temperature=1.0, top_k=20, top_p=0.9, seed=1234)
    prompt = random_prompts([9], seed=4)[0]
    alone = engine(lm).generate([prompt], seeded)[0].token_ids
    others = [SamplingParams(max_tokens=8, temperature=0.7, seed=s) for s in range(3)]
    crowd = engine(lm).generate(random_prompts([4, 25, 12], seed=5) + [prompt], others + [seeded])
    assert crowd[-1].token_ids == alone
    reseeded = SamplingParams(max_tokens=8, temperature=1.0, top_k=20, top_p=0.9, seed=99)
    assert engine(lm).generate([prompt], reseeded)[0].token_ids != alone


def test_compilations_are_bounded_by_the_shape_buckets(lm):
    eng = engine(lm)
    rng = np.random.default_rng(6)
    prompts = random_prompts(rng.integers(1, 40, 24), seed=7)
    params = [SamplingParams(max_tokens=int(n), temperature=0.0) for n in rng.integers(1, 20, 24)]
    eng.generate(prompts, params)
    # Rows pad to 1, 2 or 4; decode rows' block tables to 1, 2 or 4 blocks (prefill: 4).
    bound = 3 * 3 + 3
    assert len(eng.compilations) == len(set(eng.compilations)) <= bound
    assert {shape[1] for shape in eng.compilations} <= {1, 2, 4}
    assert {shape[3] for shape in eng.compilations if shape[0] == "prefill"} == {4}


def test_stop_ids_eos_max_tokens_and_length(lm):
    eng = engine(lm)
    prompt = random_prompts([6], seed=8)[0]
    free = eng.generate([prompt], GREEDY)[0].token_ids
    stop_at = free[3]
    first = free.index(stop_at)
    out = eng.generate(
        [prompt], SamplingParams(max_tokens=10, temperature=0.0, stop_ids=(stop_at,))
    )
    assert out[0].token_ids == free[: first + 1] and out[0].finish_reason == "stop"
    eos = engine(lm, eos_id=stop_at).generate([prompt], GREEDY)[0]
    assert eos.token_ids == free[: first + 1] and eos.finish_reason == "stop"
    ignored = SamplingParams(max_tokens=10, temperature=0.0, ignore_eos=True)
    assert engine(lm, eos_id=stop_at).generate([prompt], ignored)[0].token_ids == free
    # 60 prompt tokens in a 64-token model: 4 new tokens, then 'length'.
    long = engine(lm).generate(random_prompts([60], seed=9), GREEDY)[0]
    assert len(long.token_ids) == 4 and long.finish_reason == "length"


def test_stop_strings_cut_the_text_and_hold_back_what_may_become_one(lm):
    eng = engine(lm, detokenize=lambda ids: "".join(chr(65 + i % 26) for i in ids))
    prompt = random_prompts([6], seed=8)[0]
    text = eng.generate([prompt], GREEDY)[0].text
    assert len(text) == GREEDY.max_tokens
    stop = text[4:6]
    cut = eng.generate([prompt], SamplingParams(max_tokens=10, temperature=0.0, stop=(stop,)))[0]
    assert cut.text == text[: text.find(stop)] and cut.finish_reason == "stop"


def test_abort_frees_the_blocks_of_a_running_request(lm):
    eng = engine(lm)
    start = eng.num_free_blocks
    request = eng.add_request(random_prompts([30], seed=10)[0], SamplingParams(max_tokens=20))
    eng.step()
    eng.step()
    assert eng.num_free_blocks < start
    eng.abort(request)
    assert eng.num_free_blocks == start and not eng.has_work


@pytest.mark.parametrize(
    "prompt, params, message",
    [
        ([], GREEDY, "prompt is empty"),
        ([300], GREEDY, "must lie in"),
        ([1] * 64, GREEDY, "at most 64 tokens"),
        ([1], SamplingParams(temperature=-1), "temperature"),
        ([1], SamplingParams(top_p=0), "top_p"),
        ([1], SamplingParams(top_k=1000), "top_k"),
        ([1], SamplingParams(max_tokens=0), "max_tokens"),
        ([1], SamplingParams(stop=("x",)), "detokenize"),
    ],
)
def test_bad_requests_are_refused_with_one_sentence(lm, prompt, params, message):
    eng = engine(lm)
    with pytest.raises(ValueError, match=message):
        eng.add_request(prompt, params)
    assert not eng.has_work


def test_t5_encodes_once_and_serves_its_decoder_like_the_cached_decode():
    model = t5.make(
        "tiny", embed_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_encoder_layers=1,
        num_decoder_layers=2,
    )  # fmt: skip
    init_inputs = (jnp.zeros((1, 8), jnp.int32), jnp.zeros((1, 4), jnp.int32))
    params = model.init(jax.random.PRNGKey(0), *init_inputs)["params"]
    params = jax.tree.map(lambda p: p * 2.0, params)
    prompts = [list(p) for p in random_prompts([5, 17, 12, 20], seed=12)]
    # 5 usable blocks of 8 for 4 answers of 11 decoder tokens (2 blocks each): preemptions, and
    # recomputed answers whose decoder tokens equal another request's (several answers repeat
    # one token) must not share its blocks: they were computed under another encoder input.
    eng = Engine(
        model, params, num_blocks=6, block_size=8, max_seqs=4, max_length=16,
        max_input_length=24, record_logits=True,
    )  # fmt: skip
    outputs = eng.generate(prompts, SamplingParams(max_tokens=10, temperature=0.0))
    inputs = np.zeros((4, 24), np.int32)
    mask = np.zeros((4, 24), bool)
    for row, prompt in enumerate(prompts):
        inputs[row, : len(prompt)], mask[row, : len(prompt)] = prompt, True
    want, want_logits = decode(
        model, params, jnp.asarray(inputs), num_tokens=10, select=TokenChooser(0.0),
        rng=jax.random.PRNGKey(0), prompt_mask=jnp.asarray(mask), return_logits=True,
    )  # fmt: skip
    assert [o.token_ids for o in outputs] == [list(row) for row in np.asarray(want)]
    last_logits = np.stack([o.logits for o in outputs])
    np.testing.assert_allclose(last_logits, np.asarray(want_logits)[:, -1], atol=2e-5, rtol=1e-5)
    assert [o.prompt_length for o in outputs] == [5, 17, 12, 20]
    assert eng.scheduler.num_preemptions > 0  # recomputed by prefill chunks of decoder tokens
    # Every registered decoder block's prefix chain starts from its request's encoder input.
    roots = set()
    for key in eng.pool._block_of_key:
        while key in eng.pool._block_of_key:
            key = key[0]
        roots.add(key)
    assert roots and roots <= {tuple(p) for p in prompts}
    assert eng.num_free_blocks == 5 and len(eng.encoders._free) == 4
