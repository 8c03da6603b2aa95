"""The RNN benchmark at smoke size: both sides compute the same function (the timings would be
meaningless otherwise), every measured setting is reported, and the headline ratio is the one of
the fastest JAX setting."""

from tests.reference_packages import import_reference

import_reference("torch")

from experiments.benchmarks import rnn_scan  # noqa: E402  (needs torch)


def test_smoke_preset_measures_both_sides_on_the_same_function():
    results = rnn_scan.run("smoke", ["lstm", "gru"], [1], autodiff=True)
    assert [r["cell"] for r in results] == ["lstm", "gru"]
    keys = ["jax_unroll1", "jax_autodiff_unroll1"]
    for row in results:
        for key in keys:
            # Same weights and inputs: outputs agree to float32 rounding (observed <= 1e-7), with
            # the hand-written backward pass and with plain autodiff.
            assert row[f"{key}_max_output_diff"] < 1e-5, row
            assert row[f"{key}_ratio"] > 0
        assert row["best"] in keys
        assert row[f"{row['best']}_median_s"] == min(row[f"{k}_median_s"] for k in keys)
        assert row["ratio"] == row[f"{row['best']}_ratio"]
        assert row["torch_threads"] >= 1 and row["xla_cpu_threads"] >= 1
