"""An OpenAI-compatible HTTP API over the `AsyncEngine`: the official `openai` client talks to it.

    app = create_app(AsyncEngine(engine, max_waiting=64), tokenizer, model_name="gpt_tiny")
    # run it with research.serve.loopback_server.LoopbackServer(app, port=8000)

Endpoints:
  POST /v1/completions        prompt (a string or a list of token ids) -> text
  POST /v1/chat/completions   messages (system / user / assistant) -> the assistant's answer,
                              prompted through `research.serve.chat_template`
  GET  /v1/models             the one model served
  GET  /health                {"status": "ok"} and the engine's load
Both POST endpoints stream with `"stream": true` as server-sent events (`data: {json}\\n\\n` chunks,
then `data: [DONE]\\n\\n`) or answer once. Fields: model, max_tokens, temperature, top_p, top_k
(an extension; 0 or -1 is off), seed, stop (a string or a list), n (1 only), logprobs (the chosen
token's log-probability only: completions' `logprobs=0`, chat's `logprobs=true` with
`top_logprobs` 0: the engine does not compute alternatives), stream_options.include_usage.
A request field that would change the answer and that the engine cannot honour (n > 1, echo,
best_of, suffix, penalties, logit_bias, tools) is refused, never silently ignored.

Errors are one JSON line as OpenAI sends them, `{"error": {"message", "type", "param", "code"}}`:
400 for malformed JSON and invalid values (the messages of `SamplingParams.check` and
`Engine.add_request`), 404 for an unknown model, 429 when the engine's queue is full
(`AsyncEngine`'s QueueFull), 503 while shutting down. A client that disconnects cancels its
request: the stream's task is cancelled, the engine aborts it and frees its blocks.

Why Starlette (with uvicorn): the API is four routes whose validation must produce OpenAI's error
body and messages from our own checks, so FastAPI's pydantic layer (422s in its own format) would be
worked around rather than used; Starlette is the small, well-kept ASGI toolkit FastAPI is built on,
with a streaming response that cancels the stream when the client goes away, which is exactly the
hook that frees a disconnected request's blocks. uvicorn is the standard ASGI server for it.
"""

import asyncio
import contextlib
import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from research.serve import chat_template
from research.serve.async_engine import AsyncEngine, EngineFailed, QueueFull, ShuttingDown
from research.serve.sampling_params import SamplingParams

# Request fields the engine cannot honour -> the values that mean "not used".
UNSUPPORTED = {
    "n": (None, 1),
    "best_of": (None, 1),
    "echo": (None, False),
    "suffix": (None, ""),
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    "logit_bias": (None, {}),
    "tools": (None, []),
    "top_logprobs": (None, 0),
}


class InvalidRequest(Exception):
    """A request the API refuses -> an OpenAI-style error response."""

    def __init__(self, message, param=None, *, status=400, code=None, kind="invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.code, self.kind = (
            message, param, status, code, kind,
        )  # fmt: skip

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": error}, status_code=self.status)


def create_app(engine: AsyncEngine, tokenizer, *, model_name: str, shutdown_grace_s=5.0):
    """The ASGI app serving `engine` (its Engine's detokenize should be `tokenizer.decode`).

    tokenizer: encode(text) -> ids, decode(ids) -> text. On the app's shutdown the engine gets
    shutdown_grace_s seconds to finish in-flight requests, then the rest are aborted."""
    api = _Api(engine, tokenizer, model_name)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.to_thread(engine.shutdown, shutdown_grace_s)

    routes = [
        Route("/v1/completions", api.completions, methods=["POST"]),
        Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


class _Api:
    def __init__(self, engine: AsyncEngine, tokenizer, model_name: str):
        self.engine, self.tokenizer, self.model_name = engine, tokenizer, model_name
        self.created = int(time.time())

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "requests": self.engine.num_unfinished,
                "capacity": self.engine.capacity,
                "free_blocks": self.engine.engine.num_free_blocks,
            }
        )

    async def models(self, request: Request) -> Response:
        card = {"id": self.model_name, "object": "model", "created": self.created,
                "owned_by": "research"}  # fmt: skip
        return JSONResponse({"object": "list", "data": [card]})

    async def completions(self, request: Request) -> Response:
        return await self._serve(request, chat=False)

    async def chat_completions(self, request: Request) -> Response:
        return await self._serve(request, chat=True)

    async def _serve(self, request: Request, *, chat: bool) -> Response:
        try:
            body = await _json_body(request)
            self._check_model(body)
            prompt, params, logprobs = self._read(body, chat=chat)
            try:
                stream = await self.engine.submit(prompt, params)
            except ValueError as e:
                raise _engine_refusal(str(e), "messages" if chat else "prompt") from None
            except QueueFull as e:
                raise InvalidRequest(str(e), status=429, code="queue_full",
                                     kind="rate_limit_error") from None  # fmt: skip
            except (ShuttingDown, EngineFailed) as e:
                raise InvalidRequest(str(e), status=503, kind="server_error") from None
        except InvalidRequest as e:
            return e.response()
        answer = _Answer(self, stream, len(prompt), chat=chat, logprobs=logprobs, body=body)
        if body.get("stream"):
            return StreamingResponse(answer.events(), media_type="text/event-stream")
        return await answer.whole(request)

    def _check_model(self, body: dict) -> None:
        model = body.get("model")
        if model != self.model_name:
            raise InvalidRequest(
                f"The model {model!r} does not exist; this server serves {self.model_name!r}.",
                "model", status=404, code="model_not_found",
            )  # fmt: skip

    def _read(self, body: dict, *, chat: bool) -> tuple[list[int], SamplingParams, bool]:
        """(prompt ids, sampling settings, whether to return log-probabilities) of a request."""
        for name, neutral in UNSUPPORTED.items():
            if body.get(name) not in neutral:
                raise InvalidRequest(
                    f"{name}={body[name]!r} is not supported by this server; leave it out.", name
                )
        stop, stop_ids = _stop_strings(body.get("stop")), ()
        if chat:
            try:
                templated = chat_template.encode(body.get("messages"), self.tokenizer)
            except ValueError as e:
                raise InvalidRequest(str(e), "messages") from None
            prompt = templated.token_ids
            stop, stop_ids = stop + templated.stop, templated.stop_ids
            logprobs = _typed(body, "logprobs", bool, False)
        else:
            prompt = self._prompt_ids(body.get("prompt"))
            logprobs = _typed(body, "logprobs", int, None)
            if logprobs not in (None, 0):
                raise InvalidRequest(
                    f"logprobs={logprobs} asks for the top alternatives, which this engine does not "
                    "compute; pass 0 for the chosen tokens' log-probabilities.", "logprobs",
                )  # fmt: skip
            logprobs = logprobs == 0
        max_tokens = body.get("max_completion_tokens") if chat else None
        top_k = _typed(body, "top_k", int, 0)
        params = SamplingParams(
            max_tokens=max_tokens or _typed(body, "max_tokens", int, 16),
            temperature=_typed(body, "temperature", float, 1.0),
            top_k=0 if top_k == -1 else top_k,
            top_p=_typed(body, "top_p", float, 1.0),
            seed=_typed(body, "seed", int, None),
            stop=stop,
            stop_ids=stop_ids,
        )
        try:
            params.check(self.engine.engine.vocab_size)
        except ValueError as e:
            raise InvalidRequest(str(e), str(e).split(" ", 1)[0]) from None
        return prompt, params, logprobs

    def _prompt_ids(self, prompt) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, str):
            return [int(t) for t in self.tokenizer.encode(prompt)]
        if isinstance(prompt, list) and all(type(t) is int for t in prompt):
            return prompt
        raise InvalidRequest(
            "prompt must be a string or a list of token ids (one prompt per request).", "prompt"
        )


class _Answer:
    """Turns one request's engine outputs into the OpenAI response body or its event stream."""

    def __init__(self, api: _Api, stream, prompt_length: int, *, chat, logprobs, body):
        self.api, self.stream, self.chat, self.logprobs = api, stream, chat, logprobs
        self.prompt_length = prompt_length
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.id = stream.request_id.replace("cmpl-", "chatcmpl-") if chat else stream.request_id
        self.object = "chat.completion" if chat else "text_completion"
        self.created = int(time.time())

    async def whole(self, request: Request) -> Response:
        """The non-streaming answer; a client that disconnects first aborts the request."""
        collect = asyncio.ensure_future(self._last_output())
        gone = asyncio.ensure_future(_disconnected(request))
        await asyncio.wait([collect, gone], return_when=asyncio.FIRST_COMPLETED)
        if not collect.done():
            collect.cancel()  # the stream aborts the request
            return Response(status_code=499)
        gone.cancel()
        last = collect.result()
        if last is None:
            return InvalidRequest("The request was aborted: the server is shutting down.",
                                  status=503, kind="server_error").response()  # fmt: skip
        text, tokens = last.text or "", last.token_ids
        choice = {"index": 0, "finish_reason": last.finish_reason}
        logprobs = self._logprobs(tokens, last.logprobs) if self.logprobs else None
        if self.chat:
            choice |= {"message": {"role": "assistant", "content": text}, "logprobs": logprobs}
        else:
            choice |= {"text": text, "logprobs": logprobs}
        return JSONResponse(self._envelope([choice], usage=self._usage(len(tokens))))

    async def _last_output(self):
        last = None
        async for output in self.stream:
            last = output
        return last if last is not None and last.finish_reason is not None else None

    async def events(self):
        """Server-sent events: text deltas, the finish reason, optionally usage, then [DONE]."""
        sent, count, finish = "", 0, None
        try:
            if self.chat:
                yield _event(self._chunk({"role": "assistant", "content": ""}, None, None))
            async for output in self.stream:
                text = output.text or ""
                delta, sent = text[len(sent) :], text
                new = output.token_ids[count:]
                logprobs = self._logprobs(new, output.logprobs[count:]) if self.logprobs else None
                count, finish = len(output.token_ids), output.finish_reason
                if delta or finish or logprobs:
                    yield _event(self._chunk(delta, finish, logprobs))
            if finish is None:  # aborted by shutdown
                yield _event(self._chunk("", "abort", None))
            if self.include_usage:
                yield _event(self._envelope([], usage=self._usage(count)))
            yield "data: [DONE]\n\n"
        finally:
            self.stream.abort()  # a no-op once finished; a disconnect lands here cancelled

    def _chunk(self, delta, finish, logprobs) -> dict:
        if self.chat:
            content = delta if isinstance(delta, dict) else ({"content": delta} if delta else {})
            choice = {"index": 0, "delta": content, "logprobs": logprobs, "finish_reason": finish}
            return self._envelope([choice], object_name="chat.completion.chunk")
        choice = {"index": 0, "text": delta, "logprobs": logprobs, "finish_reason": finish}
        return self._envelope([choice])

    def _envelope(self, choices, *, usage=None, object_name=None) -> dict:
        body = {"id": self.id, "object": object_name or self.object, "created": self.created,
                "model": self.api.model_name, "choices": choices}  # fmt: skip
        if usage is not None:
            body["usage"] = usage
        return body

    def _usage(self, completion_tokens: int) -> dict:
        return {
            "prompt_tokens": self.prompt_length,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_length + completion_tokens,
        }

    def _logprobs(self, tokens, logprobs) -> dict:
        """Chosen tokens' log-probabilities in the endpoint's format (no alternatives)."""
        pieces = [self.api.tokenizer.decode([t]) for t in tokens]
        if self.chat:
            content = [
                {"token": p, "logprob": lp, "bytes": list(p.encode()), "top_logprobs": []}
                for p, lp in zip(pieces, logprobs, strict=True)
            ]
            return {"content": content}
        starts = [sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
        return {"tokens": pieces, "token_logprobs": list(logprobs), "top_logprobs": None,
                "text_offset": starts}  # fmt: skip


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidRequest(
            f"The request body is not valid JSON ({e}); send a JSON object."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def _typed(body: dict, name: str, kind: type, default):
    """body[name] as `kind` (ints count as floats; bools are not numbers), or `default` if absent
    or null."""
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise InvalidRequest(f"{name} must be {kind.__name__}, got {value!r}.", name)
    return value


def _stop_strings(stop) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise InvalidRequest("stop must be a non-empty string or a list of them.", "stop")
    return tuple(stop)


def _engine_refusal(message: str, prompt_param: str) -> InvalidRequest:
    """Engine.add_request's ValueError, attributed to the request field it is about."""
    if "tokens per request" in message:
        return InvalidRequest(message, prompt_param, code="context_length_exceeded")
    if message.startswith(("The prompt", "Prompt")):
        return InvalidRequest(message, prompt_param)
    return InvalidRequest(message, message.split(" ", 1)[0])


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone away (the body is read, so only that message remains)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
