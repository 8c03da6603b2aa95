"""The RNN benchmark at smoke size: both sides compute the same function (the timings would be
meaningless otherwise) and every measured setting is reported."""

from tests.reference_packages import import_reference

import_reference("torch")

from experiments.benchmarks import rnn_scan  # noqa: E402  (needs torch)


def test_smoke_preset_measures_both_sides_on_the_same_function():
    results = rnn_scan.run("smoke", ["lstm", "gru"], [1, 2])
    assert [r["cell"] for r in results] == ["lstm", "gru"]
    for row in results:
        for unroll in (1, 2):
            # Same weights and inputs: outputs agree to float32 rounding (observed <= 1e-7).
            assert row[f"jax_unroll{unroll}_max_output_diff"] < 1e-5, row
        best = row[f"jax_unroll{row['best_unroll']}_median_s"]
        assert best == min(row["jax_unroll1_median_s"], row["jax_unroll2_median_s"])
        assert row["ratio"] == row["torch_median_s"] / best
