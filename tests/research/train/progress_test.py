"""Tests for research/train/progress.py: exact strings and throughput from a controlled clock."""

import pytest

from research.train import progress
from research.train.progress import Progress, format_duration, format_rate


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0m00s"),
        (-5, "0m00s"),
        (59.4, "0m59s"),
        (59.6, "1m00s"),
        (61, "1m01s"),
        (3599, "59m59s"),
        (3600, "1h00m00s"),
        (3725, "1h02m05s"),
        (100 * 3600 + 1, "100h00m01s"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "rate, text",
    [(0, "0.0"), (12.34, "12.3"), (999.9, "999.9"), (1000, "1.0K"), (12_345, "12.3K"),
     (999_000, "999.0K"), (1e6, "1.0M"), (2.55e7, "25.5M")],
)  # fmt: skip
def test_format_rate(rate, text):
    assert format_rate(rate) == text


class _Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_tick_measures_steps_and_items_per_second(monkeypatch):
    clock = _Clock(100.0)
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    p = Progress(start_step=10, total_steps=100, items_per_step=64, items_name="examples")
    clock.t = 102.0
    assert p.tick(20) == {"seconds_per_step": 0.2, "examples_per_second": 320.0}
    clock.t = 104.0
    with p.paused():  # evaluation time is not training time
        clock.t = 107.0
    clock.t = 108.0
    timing = p.tick(30)  # 10 steps in 6 s, of which 3 s were paused
    assert timing["seconds_per_step"] == pytest.approx(0.3)
    assert timing["examples_per_second"] == pytest.approx(64 / 0.3)
    clock.t = 109.0
    assert p.tick(30)["seconds_per_step"] == pytest.approx(1.0)  # no step since: counted as one


def test_line_shows_step_loss_throughput_and_eta(monkeypatch):
    clock = _Clock(0.0)
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    p = Progress(start_step=0, total_steps=1000, items_per_step=16 * 256, items_name="tokens")
    clock.t = 5.0
    timing = p.tick(50)  # 0.1 s per step, 40960 tokens/s
    line = p.line(50, 2.345678, timing)
    assert line == "step   50/1000 | loss 2.3457 | 41.0K tokens/s | ETA 1m35s"
