"""The OpenAI-compatible server through the official `openai` client and raw HTTP: completions and
chat, streaming and not, equal to the engine's own greedy answers; every refused input as a 4xx with
OpenAI's one-line error body; 429 when the queue is full; a client that disconnects mid-stream frees
its blocks; and a bounded load test (16 concurrent streaming clients x 2 requests) that checks no
answer was lost, duplicated or swapped, and prints its figures."""

import asyncio
import json
import threading
import time

import httpx
import openai
import pytest

from research.serve import chat_template
from research.serve.load_generator import run_load
from research.serve.sampling_params import SamplingParams
from tests.research.serve import server_fixture as fixture
from tests.research.serve.server_fixture import GREEDY, MODEL_NAME, PROMPTS, TOKENIZER

CHAT = [{"role": "user", "content": "Hi"}]  # 52 byte tokens of template: fits 64


@pytest.fixture(scope="module")
def served():
    engine = fixture.new_engine()
    # Before the server owns the engine: the expected answers (which also compiles the shapes).
    expected = dict(zip(PROMPTS, fixture.expected_texts(engine, PROMPTS), strict=True))
    assert len(set(expected.values())) == len(PROMPTS)  # distinct: a swapped answer shows
    chat_ids = TOKENIZER.encode(chat_template.render(CHAT))
    (chat,) = engine.generate([chat_ids], SamplingParams(max_tokens=3, temperature=0.0,
                                                         stop=(chat_template.IM_END,)))  # fmt: skip
    with fixture.running_server(engine) as (server, async_engine):
        yield dict(server=server, engine=engine, async_engine=async_engine, expected=expected,
                   chat=chat)  # fmt: skip


def client(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served["server"].url + "/v1", api_key="unused", max_retries=0)


def test_models_and_health(served):
    assert [m.id for m in client(served).models.list().data] == [MODEL_NAME]
    health = httpx.get(served["server"].url + "/health").json()
    assert health["status"] == "ok" and health["capacity"] == 16


def test_completion_equals_the_engine_streaming_or_not(served):
    prompt = PROMPTS[0]
    whole = client(served).completions.create(
        model=MODEL_NAME, prompt=prompt, max_tokens=GREEDY.max_tokens, temperature=0
    )
    assert whole.choices[0].text == served["expected"][prompt]
    assert whole.choices[0].finish_reason == "length"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (4, 4)
    chunks = list(client(served).completions.create(
        model=MODEL_NAME, prompt=prompt, max_tokens=4, temperature=0, stream=True,
        stream_options={"include_usage": True},
    ))  # fmt: skip
    assert "".join(c.choices[0].text for c in chunks if c.choices) == served["expected"][prompt]
    assert chunks[-1].usage.completion_tokens == 4 and not chunks[-1].choices
    assert len({c.id for c in chunks}) == 1
    # A prompt given as token ids is the same request.
    by_ids = client(served).completions.create(
        model=MODEL_NAME, prompt=TOKENIZER.encode(prompt).tolist(), max_tokens=4, temperature=0
    )
    assert by_ids.choices[0].text == served["expected"][prompt]


def test_chat_uses_the_template_and_stops_at_its_end_marker(served):
    expected = served["chat"]
    whole = client(served).chat.completions.create(
        model=MODEL_NAME, messages=CHAT, max_tokens=3, temperature=0
    )
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content == expected.text
    assert whole.choices[0].finish_reason == expected.finish_reason
    assert whole.usage.prompt_tokens == len(chat_template.render(CHAT))
    assert whole.id.startswith("chatcmpl-")
    chunks = list(client(served).chat.completions.create(
        model=MODEL_NAME, messages=CHAT, max_tokens=3, temperature=0, stream=True
    ))  # fmt: skip
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected.text
    assert chunks[-1].choices[0].finish_reason == expected.finish_reason


def test_logprobs_are_the_chosen_tokens(served):
    answer = client(served).completions.create(
        model=MODEL_NAME, prompt=PROMPTS[1], max_tokens=4, temperature=0, logprobs=0
    )
    logprobs = answer.choices[0].logprobs
    assert len(logprobs.token_logprobs) == 4 and all(lp <= 0 for lp in logprobs.token_logprobs)
    assert "".join(logprobs.tokens) == answer.choices[0].text or "\ufffd" in "".join(
        logprobs.tokens
    )  # byte tokens that split a character decode alone as U+FFFD
    chat = client(served).chat.completions.create(
        model=MODEL_NAME, messages=CHAT, max_tokens=2, temperature=0, logprobs=True
    )
    assert all(t.logprob <= 0 for t in chat.choices[0].logprobs.content)


LONG = "x" * 64  # the engine's max_length is the model's 64 positions
BAD_REQUESTS = [  # (body, status, param, code, words of the message)
    ({"model": "gpt-4", "prompt": "a"}, 404, "model", "model_not_found", "does not exist"),
    ({"prompt": LONG}, 400, "prompt", "context_length_exceeded", "64 tokens"),
    ({"prompt": [1, 999]}, 400, "prompt", None, "token ids must lie in [0, 257)"),
    ({"prompt": ""}, 400, "prompt", None, "prompt is empty"),
    ({"prompt": ["a", "b"]}, 400, "prompt", None, "one prompt per request"),
    ({"prompt": "a", "temperature": -1}, 400, "temperature", None, "temperature must be >= 0"),
    ({"prompt": "a", "top_p": 0}, 400, "top_p", None, "top_p must be in (0, 1]"),
    ({"prompt": "a", "top_k": 1000}, 400, "top_k", None, "top_k must be in [0, 257]"),
    ({"prompt": "a", "max_tokens": 0}, 400, "max_tokens", None, "max_tokens must be >= 1"),
    ({"prompt": "a", "max_tokens": "9"}, 400, "max_tokens", None, "max_tokens must be int"),
    ({"prompt": "a", "seed": -2}, 400, "seed", None, "seed must be in [0, 2**32)"),
    ({"prompt": "a", "stop": [""]}, 400, "stop", None, "stop must be a non-empty string"),
    ({"prompt": "a", "n": 2}, 400, "n", None, "n=2 is not supported"),
    ({"prompt": "a", "logprobs": 3}, 400, "logprobs", None, "top alternatives"),
    ({"prompt": "a", "echo": True}, 400, "echo", None, "echo=True is not supported"),
]
BAD_CHATS = [
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role must be one of"),
    ({"messages": CHAT, "top_logprobs": 2}, "top_logprobs=2 is not supported"),
    ({"messages": [{"role": "user", "content": LONG}]}, "tokens per request"),
]


def error_of(response: httpx.Response) -> dict:
    assert response.text.count("\n") <= 1  # one line
    return response.json()["error"]


@pytest.mark.parametrize("body,status,param,code,words", BAD_REQUESTS)
def test_bad_completion_requests_are_refused_in_openai_form(served, body, status, param, code,
                                                           words):  # fmt: skip
    response = httpx.post(served["server"].url + "/v1/completions",
                          json={"model": MODEL_NAME} | body)  # fmt: skip
    assert response.status_code == status
    error = error_of(response)
    assert words in error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


@pytest.mark.parametrize("body,words", BAD_CHATS)
def test_bad_chat_requests_are_refused(served, body, words):
    response = httpx.post(served["server"].url + "/v1/chat/completions",
                          json={"model": MODEL_NAME} | body)  # fmt: skip
    assert response.status_code == 400 and words in error_of(response)["message"]


def test_malformed_json_and_the_client_view_of_errors(served):
    response = httpx.post(served["server"].url + "/v1/completions", content=b"{not json")
    assert response.status_code == 400 and "not valid JSON" in error_of(response)["message"]
    with pytest.raises(openai.BadRequestError, match="temperature must be >= 0"):
        client(served).completions.create(model=MODEL_NAME, prompt="a", temperature=-1)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client(served).chat.completions.create(model="nope", messages=CHAT)


def test_a_full_queue_answers_429_and_nothing_is_lost(served):
    engine = served["engine"]
    with fixture.StepGate(engine) as gate:  # nothing finishes while the queue fills

        async def fill():
            c = openai.AsyncOpenAI(base_url=served["server"].url + "/v1", api_key="unused",
                                   max_retries=0)  # fmt: skip
            calls = [asyncio.ensure_future(c.completions.create(
                model=MODEL_NAME, prompt=PROMPTS[i % 8], max_tokens=4, temperature=0
            )) for i in range(16)]  # fmt: skip
            while served["async_engine"].num_unfinished < 16:
                await asyncio.sleep(0.01)
            with pytest.raises(openai.RateLimitError, match="at capacity"):
                await c.completions.create(model=MODEL_NAME, prompt="a", max_tokens=1)
            gate.open()
            answers = await asyncio.wait_for(asyncio.gather(*calls), 60)
            await c.close()
            return answers

        answers = asyncio.run(fill())
    assert [a.choices[0].text for a in answers] == [
        served["expected"][PROMPTS[i % 8]] for i in range(16)
    ]


def test_a_client_that_disconnects_mid_stream_frees_its_blocks(served):
    engine, async_engine = served["engine"], served["async_engine"]
    free, aborted = engine.num_free_blocks, async_engine.finish_reasons["abort"]
    slow = engine.step
    engine.step = lambda: time.sleep(0.5) or slow()  # its 4 tokens would take 2 s
    try:
        body = {"model": MODEL_NAME, "prompt": "abcd", "max_tokens": 4, "stream": True,
                "temperature": 0}  # fmt: skip
        with httpx.stream("POST", served["server"].url + "/v1/completions", json=body) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            assert json.loads(first[6:])["choices"][0]["finish_reason"] is None
            assert engine.num_free_blocks < free  # it holds blocks now
        # The connection is closed: the server cancels the stream and the engine aborts it.
        deadline = time.monotonic() + 10
        while async_engine.finish_reasons["abort"] == aborted and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        del engine.step
    assert async_engine.finish_reasons["abort"] == aborted + 1
    deadline = time.monotonic() + 5
    while engine.num_free_blocks != free and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.num_free_blocks == free


def test_load_16_streaming_clients_lose_duplicate_and_swap_nothing(served):
    expected = [served["expected"][p] for p in PROMPTS]
    report = asyncio.run(run_load(
        served["server"].url + "/v1", MODEL_NAME, PROMPTS, expected, clients=16,
        requests_per_client=2, max_tokens=4, time_limit_s=60,
    ))  # fmt: skip
    print("\nload test:", report.summary())
    assert not report.problems, report.problems[:5]
    assert len(report.answers) == 32


def test_threads_of_one_loop_each_get_their_own_answers(served):
    """Requests from several threads (each its own event loop) reach the engine thread too."""
    results = {}

    def one(prompt):
        results[prompt] = (
            client(served)
            .completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=4, temperature=0)
            .choices[0]
            .text
        )

    threads = [threading.Thread(target=one, args=(p,)) for p in PROMPTS[:4]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {p: served["expected"][p] for p in PROMPTS[:4]}
