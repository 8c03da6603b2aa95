"""The engine behind an asyncio server: one thread steps the `Engine`, coroutines await tokens.

    engine = AsyncEngine(Engine(model, params, num_blocks=256), max_waiting=64)
    stream = await engine.submit(prompt_ids, SamplingParams(max_tokens=20))  # ValueError: refused
    async for output in stream:          # RequestOutput, one per step that advanced the request
        print(output.text)
    engine.shutdown(grace_s=5.0)

`Engine.step` is blocking JAX work and the engine is not thread-safe, so exactly one thread (the
"engine thread", started here) touches it: coroutines hand it commands (add a request, abort one)
through a locked list and are answered through their own event loop (`call_soon_threadsafe`), so the
loop never blocks on the model and any number of event loops may submit. The thread sleeps when
there is nothing to do.

Admission: `max_seqs` requests run at once (the engine's decode batch) and at most `max_waiting`
more wait for a row; a submit beyond that raises `QueueFull` at once (the server's 429), so a burst
cannot pile up unbounded work or memory. A request that is cancelled (its consumer stopped
iterating, e.g. the HTTP client went away) is aborted and its blocks return to the pool.

Shutdown: stop accepting (`ShuttingDown`), let in-flight requests finish for `grace_s` seconds,
abort the rest, and join the thread.
"""

import asyncio
import collections
import dataclasses
import threading
import time
import uuid

from absl import logging

from research.serve.engine import Engine, RequestOutput
from research.serve.sampling_params import SamplingParams


class QueueFull(Exception):
    """Every running row and waiting place is taken; try again later (HTTP 429)."""


class ShuttingDown(Exception):
    """The engine no longer accepts requests (HTTP 503)."""


class EngineFailed(RuntimeError):
    """The engine thread stopped on an error; the request cannot continue."""


@dataclasses.dataclass(eq=False)
class _Request:
    """A submitted request as both threads see it. The engine thread answers on `loop`: the
    `admitted` future (the id, or add_request's ValueError), then `RequestOutput`s into
    `outputs`, ended by a finished output, None (aborted) or an exception."""

    request_id: str
    prompt: list[int]
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    admitted: asyncio.Future
    outputs: asyncio.Queue = dataclasses.field(default_factory=asyncio.Queue)


class RequestStream:
    """The outputs of one request, as an async iterator; it ends after the finished output.

    Cancelling the task that iterates it (or calling `abort`) ends the request in the engine."""

    def __init__(self, engine: "AsyncEngine", request: _Request):
        self._engine, self._request, self._done = engine, request, False
        self.request_id = request.request_id

    def __aiter__(self):
        return self

    async def __anext__(self) -> RequestOutput:
        if self._done:
            raise StopAsyncIteration
        try:
            output = await self._request.outputs.get()
        except asyncio.CancelledError:
            self.abort()
            raise
        if output is None:  # aborted (by us, or by shutdown)
            self._done = True
            raise StopAsyncIteration
        if isinstance(output, BaseException):
            self._done = True
            raise output
        self._done = output.finish_reason is not None
        return output

    def abort(self) -> None:
        """Ends the request now (nothing if it already finished); its blocks are freed."""
        if not self._done:
            self._done = True
            self._engine._command(("abort", self._request))


class AsyncEngine:
    def __init__(self, engine: Engine, *, max_waiting: int):
        """engine: used only by this object's thread from now on. max_waiting >= 0: how many
        requests may wait for a running row before `submit` raises QueueFull."""
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}.")
        self.engine = engine
        self.capacity = engine.scheduler.max_seqs + max_waiting
        self.finish_reasons: collections.Counter = collections.Counter()  # of ended requests
        self._lock = threading.Condition()
        self._commands: list[tuple[str, _Request]] = []
        self._live: dict[str, _Request] = {}  # engine thread only
        self._unfinished = 0  # submitted and not ended; under _lock
        self._accepting, self._stopping = True, False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="serving-engine", daemon=True)
        self._thread.start()

    # The event-loop side.

    async def submit(self, prompt_ids, params: SamplingParams) -> RequestStream:
        """Queues a request -> its stream of outputs. Raises QueueFull, ShuttingDown, or the
        engine's ValueError for a prompt or settings it cannot serve."""
        loop = asyncio.get_running_loop()
        request = _Request(
            f"cmpl-{uuid.uuid4().hex[:24]}", [int(t) for t in prompt_ids], params, loop,
            loop.create_future(),
        )  # fmt: skip
        with self._lock:
            if self._failure is not None:
                raise EngineFailed(f"The serving engine stopped: {self._failure!r}.")
            if not self._accepting:
                raise ShuttingDown("The server is shutting down; it accepts no new requests.")
            if self._unfinished >= self.capacity:
                raise QueueFull(
                    f"The server is at capacity ({self.capacity} requests running or waiting); "
                    "retry later."
                )
            self._unfinished += 1
            self._commands.append(("add", request))
            self._lock.notify()
        try:
            await request.admitted  # raises add_request's ValueError
        except asyncio.CancelledError:  # the caller went away before the engine took it
            self._command(("abort", request))
            raise
        return RequestStream(self, request)

    @property
    def num_unfinished(self) -> int:
        with self._lock:
            return self._unfinished

    def shutdown(self, grace_s: float = 0.0) -> None:
        """Stops accepting, waits up to grace_s seconds for in-flight requests, aborts the rest,
        and joins the engine thread. Blocking: from a coroutine, run it with asyncio.to_thread."""
        with self._lock:
            self._accepting = False
            deadline = time.monotonic() + grace_s
            while self._unfinished and self._failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(timeout=min(left, 0.05))
            self._stopping = True
            self._lock.notify_all()
        self._thread.join()

    def _command(self, command: tuple[str, _Request]) -> None:
        with self._lock:
            self._commands.append(command)
            self._lock.notify()

    # The engine thread.

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    while not (self._commands or self._stopping or self.engine.has_work):
                        self._lock.wait()
                    commands, self._commands = self._commands, []
                    stopping = self._stopping
                for kind, request in commands:
                    (self._add if kind == "add" else self._abort)(request)
                if stopping:
                    for request in list(self._live.values()):
                        self._abort(request)
                    return
                if self.engine.has_work:
                    for output in self.engine.step():
                        self._deliver(output)
        except Exception as e:  # noqa: BLE001 - a bug in a step: fail every request, not hang
            logging.exception("The serving engine thread stopped.")
            with self._lock:
                self._failure = e
                pending = self._commands
                self._commands = []
                self._lock.notify_all()
            failure = EngineFailed(f"The serving engine stopped: {e!r}.")
            for request in self._live.values():
                self._answer(request, failure)
                self._end(request, "error")
            for request in (r for kind, r in pending if kind == "add"):
                _post(request.loop, _settle, request.admitted, None, failure)
                self._end(request, "error")

    def _add(self, request: _Request) -> None:
        try:
            self.engine.add_request(request.prompt, request.params, request.request_id)
        except ValueError as e:
            _post(request.loop, _settle, request.admitted, None, e)
            self._end(request, None)
            return
        self._live[request.request_id] = request
        if not _post(request.loop, _settle, request.admitted, request.request_id, None):
            self._abort(request)

    def _abort(self, request: _Request) -> None:
        if self._live.pop(request.request_id, None) is not None:
            self.engine.abort(request.request_id)
            self._answer(request, None)
            self._end(request, "abort")

    def _deliver(self, output: RequestOutput) -> None:
        request = self._live.get(output.request_id)
        if request is None:
            return
        self._answer(request, output)
        if output.finish_reason is not None:
            del self._live[output.request_id]
            self._end(request, output.finish_reason)

    def _answer(self, request: _Request, item) -> None:
        """Hands `item` to the request's loop; a loop that has closed (its caller is gone)
        gets nothing, and the request is aborted."""
        try:
            request.loop.call_soon_threadsafe(request.outputs.put_nowait, item)
        except RuntimeError:  # the event loop is closed
            if request.request_id in self._live and item is not None:
                self._abort(request)

    def _end(self, request: _Request, reason: str | None) -> None:
        with self._lock:
            self._unfinished -= 1
            if reason is not None:
                self.finish_reasons[reason] += 1
            self._lock.notify_all()


def _post(loop: asyncio.AbstractEventLoop, callback, *args) -> bool:
    """Schedules callback(*args) on `loop` from the engine thread -> False if the loop closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True


def _settle(future: asyncio.Future, result, error) -> None:
    """Resolves `future` on its own loop (unless its waiter was cancelled meanwhile)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
