"""The train-step benchmark runs end to end and reports consistent numbers."""

import json
import types

import pytest
from absl import app, flags

pytest.importorskip("torch")

from experiments.benchmarks import step_timing, train_step  # noqa: E402  (needs torch)


def test_time_steps_times_the_first_and_the_timed_steps_with_their_syncs(monkeypatch):
    # A fake clock: step k (0-based) takes k + 1 seconds and each sync a quarter of a second, so
    # every window is known exactly. Leaving the sync out, timing the warmup steps or mixing up
    # the windows changes the numbers.
    clock = [100.0]
    monkeypatch.setattr(step_timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    calls = []
    syncs = []

    def step():
        calls.append(len(calls))
        clock[0] += len(calls)
        return 7.0 + len(calls)

    def sync():
        syncs.append(1)
        clock[0] += 0.25

    timing = step_timing.time_steps(step, sync, steps=3, warmup=2)
    assert len(calls) == 1 + 2 + 3 + 3
    assert len(syncs) == 1 + 2 + 3 + 1  # back-to-back steps share one sync
    assert timing.first_loss == 8.0
    assert timing.first_s == 1.25  # step 0 and its sync
    assert timing.times == [4.25, 5.25, 6.25]  # steps 3-5 with their syncs; warmup 1-2 untimed
    assert timing.pipelined_s == (7 + 8 + 9 + 0.25) / 3  # steps 6-8, then one sync


def test_peak_flops_only_for_known_accelerators_in_bf16():
    assert step_timing.peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
    assert step_timing.peak_flops("NVIDIA H100 PCIe", "bfloat16") == 756e12
    assert step_timing.peak_flops("NVIDIA H200", "bfloat16") == 989e12
    assert step_timing.peak_flops("NVIDIA A100-SXM4-80GB", "bfloat16") == 312e12
    assert step_timing.peak_flops("NVIDIA H100 80GB HBM3", "float32") is None
    assert step_timing.peak_flops("cpu", "bfloat16") is None


def _parse(*args):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["train_step", *args])


def test_smoke_preset_writes_both_results(tmp_path):
    out = tmp_path / "bench.json"
    try:
        _parse("--preset=smoke", "--steps=2", "--warmup=1", f"--json_out={out}")
        train_step.main(["train_step"])
    finally:
        flags.FLAGS.unparse_flags()
    results = json.loads(out.read_text())

    jax_result, torch_result = results["jax"], results["torch"]
    assert jax_result["tokens_per_s"] > 0 and torch_result["tokens_per_s"] > 0
    assert len(jax_result["step_times_s"]) == len(torch_result["step_times_s"]) == 2
    assert results["ratio_jax_over_torch"] == pytest.approx(
        jax_result["tokens_per_s"] / torch_result["tokens_per_s"]
    )
    # Same weights and tokens: the first losses agree, and are near log(V) for a fresh model.
    assert jax_result["first_loss"] == pytest.approx(torch_result["first_loss"], rel=1e-5)
    assert jax_result["first_loss"] == pytest.approx(5.55, abs=0.1)  # log(257) = 5.549
    # Both attention paths ran; the headline is the faster one.
    runs = results["jax_runs"]
    assert [r["attention_impl"] for r in runs] == [None, "xla"]
    assert jax_result == max(runs, key=lambda r: r["tokens_per_s"])
    assert jax_result["mfu"] is None  # no known peak on CPU
    assert results["settings"]["batch"] * results["settings"]["seq_len"] == 64


def test_flags_override_the_preset_and_check_seq_len():
    try:
        _parse("--preset=smoke", "--batch=5", "--attention_impl=none", "--dtype=bfloat16")
        s = train_step.settings_from_flags()
        assert (s.batch, s.attention_impls, s.dtype, s.seq_len) == (5, (None,), "bfloat16", 32)
        _parse("--preset=smoke", "--seq_len=33")
        with pytest.raises(app.UsageError, match="max_len=32"):
            train_step.settings_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
