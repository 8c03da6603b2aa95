"""The progress line: step, loss, throughput and ETA, printed at every log step."""

import contextlib
import time


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def format_rate(x: float) -> str:
    for unit, scale in (("M", 1e6), ("K", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.1f}"


class Progress:
    """Measures throughput between log steps (the first interval includes compilation)."""

    def __init__(self, start_step: int, total_steps: int, items_per_step: int, items_name: str):
        self.total_steps = total_steps
        self.items_per_step = items_per_step
        self.items_name = items_name
        self._mark_step = start_step
        self._mark_time = time.perf_counter()
        self._steady_seconds_per_step = None

    def tick(self, step: int) -> dict[str, float]:
        """Call at a log step, after the step's results are on the host; returns timing metrics."""
        now = time.perf_counter()
        steps = max(step - self._mark_step, 1)
        seconds_per_step = (now - self._mark_time) / steps
        self._mark_step, self._mark_time = step, now
        self._steady_seconds_per_step = seconds_per_step
        return {
            "seconds_per_step": seconds_per_step,
            f"{self.items_name}_per_second": self.items_per_step / seconds_per_step,
        }

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside (evaluation, checkpointing) is not counted as training time."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._mark_time += time.perf_counter() - start

    def line(self, step: int, loss: float, timing: dict[str, float]) -> str:
        rate = timing[f"{self.items_name}_per_second"]
        eta = (self.total_steps - step) * timing["seconds_per_step"]
        width = len(str(self.total_steps))
        return (
            f"step {step:>{width}}/{self.total_steps} | loss {loss:.4f} | "
            f"{format_rate(rate)} {self.items_name}/s | ETA {format_duration(eta)}"
        )
