"""Tests for research/train/metrics.py: JSON lines, resume truncation, TensorBoard events."""

import json
import math
import struct

import pytest
from etils import epath
from tensorboardX.proto import event_pb2

from research.train.metrics import (
    MetricsWriter,
    last_record_with,
    metric_curve,
    read_metrics,
    records_with,
)


def _events(workdir) -> list:
    """Every Event in the TensorBoard files of `workdir` (TFRecord framing: len, crc, data, crc)."""
    events = []
    for path in sorted(workdir.glob("events.out.tfevents*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            events.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def _scalars(workdir) -> dict[tuple[str, int], float]:
    return {
        (v.tag, e.step): v.simple_value
        for e in _events(workdir)
        if e.HasField("summary")
        for v in e.summary.value
        if v.WhichOneof("value") == "simple_value"
    }


def test_writes_one_json_object_per_line_with_step(tmp_path):
    writer = MetricsWriter(tmp_path, resume_step=None)
    writer.write(1, {"train/loss": 2.5, "train/accuracy": 0.25})
    writer.write(2, {"eval/loss": 1.0})
    writer.close()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 1, "train/loss": 2.5, "train/accuracy": 0.25},
        {"step": 2, "eval/loss": 1.0},
    ]
    assert read_metrics(tmp_path / "metrics.jsonl") == [json.loads(line) for line in lines]


def test_non_finite_values_are_stored_as_strings_and_skipped_in_tensorboard(tmp_path):
    writer = MetricsWriter(tmp_path, resume_step=None)
    writer.write(3, {"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1.5})
    writer.close()
    text = (tmp_path / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    assert read_metrics(tmp_path / "metrics.jsonl") == [
        {"step": 3, "a": "nan", "b": "inf", "c": "-inf", "d": 1.5}
    ]
    assert _scalars(tmp_path) == {("d", 3): 1.5}


def test_tensorboard_event_file_holds_the_scalars(tmp_path):
    writer = MetricsWriter(tmp_path, resume_step=None)
    writer.write(1, {"train/loss": 2.0})
    writer.write(2, {"train/loss": 1.0, "eval/accuracy": 0.5})
    writer.write_text(2, "sample", "hello")
    writer.close()
    assert _scalars(tmp_path) == {
        ("train/loss", 1): 2.0,
        ("train/loss", 2): 1.0,
        ("eval/accuracy", 2): 0.5,
    }
    tags = {v.tag for e in _events(tmp_path) if e.HasField("summary") for v in e.summary.value}
    assert "sample/text_summary" in tags


def test_resume_drops_records_after_the_checkpoint_step(tmp_path):
    writer = MetricsWriter(tmp_path, resume_step=None)
    for step in range(1, 6):
        writer.write(step, {"loss": float(step)})
    writer.close()
    resumed = MetricsWriter(tmp_path, resume_step=3)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    resumed.write(4, {"loss": 40.0})
    resumed.close()
    assert [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1.0, 2.0, 3.0, 40.0]
    assert sorted(p.name for p in tmp_path.iterdir() if "metrics" in p.name) == ["metrics.jsonl"]


def test_resume_truncation_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    before = "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 6))
    path.write_text(before)
    original = type(epath.Path(tmp_path)).write_text

    def dies_midway(self, text, *args, **kwargs):
        original(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(type(epath.Path(tmp_path)), "write_text", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        MetricsWriter(tmp_path, resume_step=2)
    assert path.read_text() == before  # the old file stays whole


def test_fresh_start_removes_a_stale_file(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 99, "loss": 7.0}) + "\n")
    writer = MetricsWriter(tmp_path, resume_step=None)
    assert not (tmp_path / "metrics.jsonl").exists()
    writer.write(1, {"loss": 1.0})
    writer.close()
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 1.0}]


def test_disabled_writer_writes_nothing(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')  # another process's file: untouched
    writer = MetricsWriter(tmp_path, resume_step=None, enabled=False)
    writer.write(2, {"loss": 1.0})
    writer.write_text(2, "sample", "text")
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_read_metrics_of_a_missing_file_is_empty(tmp_path):
    assert read_metrics(tmp_path / "nothing.jsonl") == []


def test_curves_and_last_records_pick_the_records_holding_the_key(tmp_path):
    # Train and eval records interleave in one file; a curve or "last evaluation" that took every
    # record (or the last line) would mix them up.
    lines = [
        {"step": 10, "train/loss": 3.0},
        {"step": 20, "train/loss": 2.0},
        {"step": 20, "eval/loss": 2.5, "eval/accuracy": 0.4},
        {"step": 30, "train/loss": 1.5},
        {"step": 40, "eval/loss": 2.25, "eval/accuracy": 0.5},
        {"step": 50, "train/loss": 1.0},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert metric_curve(tmp_path, "train/loss") == ([10, 20, 30, 50], [3.0, 2.0, 1.5, 1.0])
    assert [r["step"] for r in records_with(tmp_path, "eval/loss")] == [20, 40]
    assert last_record_with(tmp_path, "eval/accuracy") == lines[4]
    with pytest.raises(ValueError, match="has no record with 'eval/exact_match'"):
        last_record_with(tmp_path, "eval/exact_match")
    assert metric_curve(tmp_path / "missing", "train/loss") == ([], [])
