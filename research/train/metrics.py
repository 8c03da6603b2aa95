"""Metrics output: `<workdir>/metrics.jsonl` (one JSON object per line, with `step`) and TensorBoard
event files beside it (through tensorboardX, no TensorFlow needed).

On resume from step s, records with step > s (written by the run that was interrupted after its last
checkpoint) are dropped, so the file reads like one uninterrupted run; TensorBoard is told the same
with `purge_step`.
"""

import json
import math
import os

from absl import logging
from etils import epath


def read_metrics(path) -> list[dict]:
    """All records of a metrics.jsonl file, in order."""
    path = epath.Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def records_with(workdir, key: str) -> list[dict]:
    """The records of `<workdir>/metrics.jsonl` that hold `key` (e.g. 'eval/loss'), in order."""
    return [r for r in read_metrics(epath.Path(workdir) / "metrics.jsonl") if key in r]


def metric_curve(workdir, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of `key` over a run, for plotting."""
    records = records_with(workdir, key)
    return [r["step"] for r in records], [r[key] for r in records]


def last_record_with(workdir, key: str) -> dict:
    """The last record of a run that holds `key`: a finished stage's final evaluation, also when
    the loop restored that stage instead of training it (its `Result.metrics` are then empty)."""
    records = records_with(workdir, key)
    if not records:
        raise ValueError(
            f"{epath.Path(workdir) / 'metrics.jsonl'} has no record with {key!r}; the run has not "
            "logged it (was it trained up to its first log or evaluation?)."
        )
    return records[-1]


def _json_value(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)  # JSON has no NaN/Infinity; keep them readable


class MetricsWriter:
    """Appends metric records; only process 0 writes (others get a writer that does nothing)."""

    def __init__(self, workdir, *, resume_step: int | None, enabled: bool = True):
        self.enabled = enabled
        self.path = epath.Path(workdir) / "metrics.jsonl"
        self._tb = None
        if not enabled:
            return
        if resume_step is not None:
            self._drop_after(resume_step)
        elif self.path.exists():
            self.path.unlink()  # a fresh start in a workdir without checkpoints
        if not str(workdir).startswith("gs://"):
            from tensorboardX import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self._tb = SummaryWriter(os.fspath(workdir), purge_step=purge, flush_secs=10)

    def _drop_after(self, step: int) -> None:
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        tmp = self.path.parent / (self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(self.path)  # atomic: the old file stays whole until the new one is complete

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _json_value(v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for name, value in metrics.items():
                if math.isfinite(float(value)):
                    self._tb.add_scalar(name, float(value), int(step))

    def write_text(self, step: int, name: str, text: str) -> None:
        if self.enabled and self._tb is not None:
            self._tb.add_text(name, text, int(step))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            logging.info("Metrics written to %s", self.path)
