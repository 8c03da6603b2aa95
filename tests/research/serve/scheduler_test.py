"""Continuous batching decisions, by hand (no model: the test plays the engine's part by
advancing the sequences as a step would)."""

from research.serve.block_pool import BlockPool
from research.serve.sampling_params import SamplingParams
from research.serve.scheduler import Scheduler, Sequence


def sequence(name, length):
    return Sequence(name, list(range(length)), length, SamplingParams(), seed=0)


def advance(plan):
    """What the engine does after a step: cache the chunks, append a token where one was drawn."""
    for chunk in plan.decode + plan.prefill:
        chunk.sequence.num_cached += chunk.length
        if chunk.samples:
            chunk.sequence.tokens.append(0)


def chunks(plan):
    return [(c.sequence.request_id, c.start, c.length) for c in plan.decode + plan.prefill]


def test_a_long_prompt_is_read_in_chunks_while_running_requests_keep_decoding():
    scheduler = Scheduler(BlockPool(64, 4), max_seqs=4, chunk_size=8, max_step_tokens=10)
    short = sequence("short", 3)
    scheduler.add(short)
    advance(scheduler.schedule())  # reads its 3 tokens, draws a 4th
    long = sequence("long", 30)
    scheduler.add(long)
    plans = []
    for _ in range(4):
        plan = scheduler.schedule()
        plans.append(chunks(plan))
        advance(plan)
    # Every step: the decode first (1 token), then up to 8 prompt tokens within the budget of 10.
    assert plans == [
        [("short", 3, 1), ("long", 0, 8)],
        [("short", 4, 1), ("long", 8, 8)],
        [("short", 5, 1), ("long", 16, 8)],
        [("short", 6, 1), ("long", 24, 6)],
    ]
    assert len(long.tokens) == 31  # the last chunk reached the prompt's end: a token was drawn


def test_admission_stops_at_max_seqs_and_at_the_budget():
    scheduler = Scheduler(BlockPool(64, 4), max_seqs=2, chunk_size=8, max_step_tokens=12)
    for name in "abc":
        scheduler.add(sequence(name, 8))
    plan = scheduler.schedule()
    assert chunks(plan) == [("a", 0, 8), ("b", 0, 4)]  # b gets what the budget leaves
    assert [s.request_id for s in scheduler.waiting] == ["c"]


def test_out_of_blocks_preempts_the_latest_admitted_which_waits_first():
    # 4 usable blocks of 2 slots; two sequences of 4 tokens hold 2 blocks each.
    pool = BlockPool(5, 2)
    scheduler = Scheduler(pool, max_seqs=4, chunk_size=8, max_step_tokens=16)
    first, second = sequence("first", 4), sequence("second", 4)
    scheduler.add(first)
    scheduler.add(second)
    advance(scheduler.schedule())  # both read their prompts and draw a token: 5 tokens each
    assert pool.num_free == 0
    plan = scheduler.schedule()  # both need a third block for position 4: one must go
    assert chunks(plan) == [("first", 4, 1)]
    assert scheduler.num_preemptions == 1 and list(scheduler.waiting) == [second]
    assert second.blocks == [] and second.num_cached == 0 and len(second.tokens) == 5
    advance(plan)
    scheduler.remove(first)  # finished
    assert chunks(scheduler.schedule()) == [("second", 0, 5)]  # recomputes prompt + its token


def test_a_fully_shared_prompt_recomputes_its_last_token_in_a_copied_block():
    pool = BlockPool(16, 2)
    scheduler = Scheduler(pool, max_seqs=4, chunk_size=8, max_step_tokens=16)
    first = sequence("first", 4)
    scheduler.add(first)
    advance(scheduler.schedule())
    for block, key in zip(first.blocks, pool.prefix_keys(first.tokens[:4]), strict=False):
        pool.register(block, key)
    again = sequence("again", 4)  # the same 4 tokens: both blocks found
    scheduler.add(again)
    plan = scheduler.schedule()
    assert ("again", 3, 1) in chunks(plan)
    assert again.blocks[0] == first.blocks[0]  # still shared
    assert plan.copies == [(first.blocks[1], again.blocks[1])]  # the written block is its own


def test_an_encoder_input_roots_the_prefix_so_other_inputs_share_nothing():
    pool = BlockPool(16, 2)
    scheduler = Scheduler(pool, max_seqs=4, chunk_size=8, max_step_tokens=16)
    first = sequence("first", 4)
    first.encoder_tokens = (5, 6)
    scheduler.add(first)
    advance(scheduler.schedule())
    for block, key in zip(first.blocks, pool.prefix_keys(first.tokens[:4], (5, 6)), strict=False):
        pool.register(block, key)
    other, same = sequence("other", 4), sequence("same", 4)
    other.encoder_tokens, same.encoder_tokens = (5, 7), (5, 6)
    scheduler.add(other)
    scheduler.add(same)
    scheduler.schedule()
    assert not set(other.blocks) & set(first.blocks)
    assert same.blocks[0] == first.blocks[0]
