"""A bounded load test of an OpenAI-compatible server: N concurrent streaming clients, each sending
its share of a fixed list of greedy completion requests, checked answer by answer.

    report = asyncio.run(run_load(base_url, "gpt_tiny", prompts, expected, clients=16,
                                  requests_per_client=2, max_tokens=8, time_limit_s=60))
    print(report.summary()); assert not report.problems

Each prompt's `expected` text is what the engine alone gives it greedily (`Engine.generate` with
temperature 0), so a request that was lost, answered twice, or answered with another request's
text shows up as a problem; a server that mixed up two rows of its batch would too. Figures:
requests/s and output tokens/s over the wall time, time to first token (first text chunk) and
end-to-end latency percentiles. Loopback only: the base URL is the caller's own server.
"""

import asyncio
import dataclasses
import time

import numpy as np
import openai


@dataclasses.dataclass
class Answer:
    prompt_index: int
    response_ids: set
    text: str
    completion_tokens: int
    finish_reason: str | None
    first_token_s: float | None
    latency_s: float


@dataclasses.dataclass
class LoadReport:
    answers: list[Answer]
    wall_s: float
    problems: list[str]

    def figures(self) -> dict[str, float]:
        latency = [a.latency_s for a in self.answers]
        first = [a.first_token_s for a in self.answers if a.first_token_s is not None]
        tokens = sum(a.completion_tokens for a in self.answers)
        return {
            "requests": len(self.answers),
            "requests_per_s": len(self.answers) / self.wall_s,
            "output_tokens_per_s": tokens / self.wall_s,
            "ttft_p50_ms": 1e3 * float(np.percentile(first, 50)) if first else float("nan"),
            "latency_p50_ms": 1e3 * float(np.percentile(latency, 50)),
            "latency_p99_ms": 1e3 * float(np.percentile(latency, 99)),
        }

    def summary(self) -> str:
        f = self.figures()
        return (
            f"{f['requests']} requests in {self.wall_s:.2f} s: {f['requests_per_s']:.1f} "
            f"requests/s, {f['output_tokens_per_s']:.0f} output tokens/s, time to first token "
            f"p50 {f['ttft_p50_ms']:.0f} ms, latency p50 {f['latency_p50_ms']:.0f} ms / p99 "
            f"{f['latency_p99_ms']:.0f} ms; {len(self.problems)} problems"
        )


async def _one(client, model, index, prompt, max_tokens) -> Answer:
    start = time.perf_counter()
    first, text, ids, usage, finish = None, "", set(), 0, None
    stream = await client.completions.create(
        model=model, prompt=prompt, max_tokens=max_tokens, temperature=0.0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    async for chunk in stream:
        ids.add(chunk.id)
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
        for choice in chunk.choices:
            if choice.text and first is None:
                first = time.perf_counter() - start
            text += choice.text
            finish = choice.finish_reason or finish
    return Answer(index, ids, text, usage, finish, first, time.perf_counter() - start)


async def run_load(base_url, model, prompts, expected, *, clients, requests_per_client,
                   max_tokens, time_limit_s) -> LoadReport:  # fmt: skip
    """Sends clients x requests_per_client streaming greedy completions (prompt i % len(prompts))
    from `clients` concurrent clients -> the report. Requests still open after time_limit_s are
    cancelled and reported as lost."""
    total = clients * requests_per_client
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)

    async def worker(w):
        done = []
        for r in range(requests_per_client):
            index = (w * requests_per_client + r) % len(prompts)
            done.append(await _one(client, model, index, prompts[index], max_tokens))
        return done

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(worker(w)) for w in range(clients)]
    finished, late = await asyncio.wait(tasks, timeout=time_limit_s)
    for task in late:
        task.cancel()
    wall = time.perf_counter() - start
    answers, problems = [], []
    for task in finished:
        if task.exception() is not None:
            problems.append(f"a client failed: {task.exception()!r}")
        else:
            answers += task.result()
    await client.close()
    if len(answers) != total:
        problems.append(f"{total - len(answers)} of {total} requests got no complete answer")
    seen = {}
    for a in answers:
        if len(a.response_ids) != 1:
            problems.append(f"one stream carried the ids {sorted(a.response_ids)}")
        for rid in a.response_ids:
            if rid in seen:
                problems.append(f"the response id {rid} answered two requests")
            seen[rid] = a
        if a.text != expected[a.prompt_index]:
            problems.append(
                f"prompt {a.prompt_index} got {a.text!r}, expected {expected[a.prompt_index]!r}"
            )
        if a.finish_reason not in ("stop", "length"):
            problems.append(f"prompt {a.prompt_index} ended with {a.finish_reason!r}")
    return LoadReport(answers, wall, problems)
