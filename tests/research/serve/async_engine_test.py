"""AsyncEngine: outputs equal to the engine alone, the engine's refusals raised by submit, a full
queue raising QueueFull, a cancelled consumer freeing its blocks, and a shutdown that finishes or
aborts in-flight requests, refuses new ones and joins its thread."""

import asyncio
import time

import pytest

from research.serve.async_engine import AsyncEngine, QueueFull, ShuttingDown
from research.serve.sampling_params import SamplingParams
from tests.research.serve import server_fixture as fixture
from tests.research.serve.server_fixture import GREEDY, PROMPTS, TOKENIZER

SLOW = SamplingParams(max_tokens=4, temperature=0.0, ignore_eos=True)


@pytest.fixture(scope="module")
def expected():
    return dict(zip(PROMPTS, fixture.expected_texts(fixture.new_engine(), PROMPTS), strict=True))


async def answer(engine: AsyncEngine, prompt: str):
    stream = await engine.submit(TOKENIZER.encode(prompt), GREEDY)
    outputs = [output async for output in stream]
    assert all(o.finish_reason is None for o in outputs[:-1])
    return outputs[-1]


def test_concurrent_submits_get_the_engine_s_own_answers(expected):
    engine = AsyncEngine(fixture.new_engine(), max_waiting=8)

    async def run():
        return await asyncio.gather(*(answer(engine, p) for p in PROMPTS))

    finals = asyncio.run(run())
    assert [f.text for f in finals] == [expected[p] for p in PROMPTS]
    assert len({f.request_id for f in finals}) == len(PROMPTS)
    engine.shutdown()
    assert not engine._thread.is_alive()


async def anext_forever(stream):
    async for _ in stream:
        pass


def test_refusals_queue_full_and_cancellation():
    inner = fixture.new_engine()
    free = inner.num_free_blocks
    engine = AsyncEngine(inner, max_waiting=1)  # capacity: 2 running + 1 waiting

    async def run():
        with pytest.raises(ValueError, match="temperature must be >= 0"):
            await engine.submit([1, 2], SamplingParams(temperature=-1.0))
        with pytest.raises(ValueError, match="serves at most 64 tokens"):
            await engine.submit([1] * 64, GREEDY)
        slow = inner.step
        inner.step = lambda: time.sleep(0.5) or slow()  # a request's 4 tokens take 2 s
        streams = [await engine.submit(TOKENIZER.encode(p), SLOW) for p in PROMPTS[:3]]
        with pytest.raises(QueueFull, match="at capacity"):  # all 3 admitted within ~1 s
            await engine.submit([1, 2], GREEDY)
        # A consumer cancelled while it waits for an output aborts its request.
        consumer = asyncio.ensure_future(anext_forever(streams[0]))
        await asyncio.sleep(0.05)  # it has read what was there and waits for the next output
        consumer.cancel()
        finals = [[o async for o in s][-1] for s in streams[1:]]
        del inner.step
        while engine.num_unfinished:
            await asyncio.sleep(0.01)
        return finals

    finals = asyncio.run(run())
    assert [f.finish_reason for f in finals] == ["length", "length"]
    assert engine.finish_reasons["abort"] == 1
    assert inner.num_free_blocks == free
    engine.shutdown()


def test_shutdown_aborts_what_is_left_after_the_grace_and_refuses_new_requests():
    inner = fixture.new_engine()
    free = inner.num_free_blocks
    engine = AsyncEngine(inner, max_waiting=4)
    slow = inner.step
    inner.step = lambda: time.sleep(0.3) or slow()  # 4 tokens: 1.2 s, past the grace

    async def run():
        stream = await engine.submit(TOKENIZER.encode(PROMPTS[0]), SLOW)
        await asyncio.to_thread(engine.shutdown, 0.1)
        outputs = [o async for o in stream]  # ends without a finished output: aborted
        assert all(o.finish_reason is None for o in outputs)
        with pytest.raises(ShuttingDown):
            await engine.submit([1, 2], GREEDY)

    asyncio.run(run())
    assert engine.finish_reasons["abort"] == 1 and engine.num_unfinished == 0
    assert inner.num_free_blocks == free and not engine._thread.is_alive()
