"""uvicorn on a loopback socket: in the foreground (the serving script) or in a thread (tests).

    server = LoopbackServer(app, port=0)      # 0: the OS picks a free port, known at once
    print(server.url)                         # http://127.0.0.1:<port>
    server.run()                              # blocks; SIGINT / SIGTERM shut it down cleanly
    # or: server.start(); ...; server.stop()  # a background thread

The socket is bound here, before uvicorn starts, so the port is known (and cannot be taken by
someone else) before the first request. Shutdown is uvicorn's: stop accepting, give open requests
`graceful_s` seconds, cancel what is left (a cancelled stream aborts its request), then run the
app's lifespan shutdown (the engine's `shutdown`).
"""

import signal
import socket
import threading
import time

import uvicorn

HOST = "127.0.0.1"


class LoopbackServer:
    def __init__(self, app, *, port: int = 0, graceful_s: float = 5.0, log_level: str = "warning"):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((HOST, port))
        except OSError as e:
            self.socket.close()
            raise ValueError(
                f"Cannot listen on {HOST}:{port} ({e.strerror or e}); pick another port, or 0 for "
                "a free one."
            ) from None
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app, log_level=log_level, timeout_graceful_shutdown=graceful_s, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def run(self) -> None:
        """Serves until SIGINT or SIGTERM (uvicorn's handlers), then shuts down cleanly.

        uvicorn re-raises the signal to the handlers it found once it has shut down; ours, set
        here, only ask it to stop, so the signal ends nothing else (a process-wide handler such as
        the `experiments` package's would otherwise report it as an interruption)."""
        stop = lambda signum, frame: setattr(self.server, "should_exit", True)
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.server.run(sockets=[self.socket])
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def start(self, timeout_s: float = 30.0) -> None:
        """Serves from a background thread; returns once it accepts connections."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The server at {self.url} did not start.")
            time.sleep(0.01)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Asks the background server to shut down and waits for it."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
