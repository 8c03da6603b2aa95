"""The gradient-flow experiment end to end in smoke mode: its files, and numbers that a broken
measurement, fit, clip or truncation would change."""

import json

import numpy as np
import pytest

from experiments import rnn_gradients
from experiments.configs.rnn import gradients
from tests.config_overrides import with_overrides


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rnn_gradients")
    return workdir, rnn_gradients.main(gradients.get_config("smoke"), workdir)


def test_smoke_run_writes_the_table_and_plots(smoke):
    workdir, results = smoke
    assert json.loads((workdir / "results.json").read_text()) == results
    table = (workdir / "results.md").read_text()
    for name in ("elman_tanh", "lstm", "gru", "SGD, no clipping", "SGD, clip at 1"):
        assert f"| {name} |" in table
    for png in ("gradient_norms.png", "exploding.png"):
        assert (workdir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lstm_carries_gradients_further_than_elman_at_init(smoke):
    # Catches a measurement that ignores the cell (or reads the wrong carry): with the forget
    # bias at 1 the LSTM's gradient decays by ~0.81 per step at init, the tanh Elman's by ~0.62.
    cells = smoke[1]["cells"]
    assert cells["lstm"]["rate_init"] > cells["elman_tanh"]["rate_init"] + 0.1
    for row in cells.values():
        assert 0.3 < row["rate_init"] < 1 and 0.3 < row["rate_trained"] < 1
        assert row["nonzero_distances_init"] == gradients.get_config("smoke").seq_len
        norms = np.asarray(row["norms_init"])
        assert norms[0] > norms[-1] > 0  # vanishing, not yet underflowed at T = 40


def test_clipping_keeps_the_exploding_run_finite_where_sgd_alone_diverges(smoke):
    ex = smoke[1]["exploding"]
    assert ex["rate_init"] > 1.05  # spectral radius 2: the gradient grows with distance
    no_clip, clip = ex["runs"]["SGD, no clipping"], ex["runs"]["SGD, clip at 1"]
    # Measured in smoke mode: unclipped final loss ~4e8 (growing), clipped ~2.
    assert no_clip["first_nonfinite_step"] is not None or no_clip["loss_final"] > 1e3
    assert np.isfinite(clip["loss_final"]) and clip["loss_final"] < 10
    assert clip["first_nonfinite_step"] is None


def test_truncation_leaves_exactly_k_steps_of_gradient(tmp_path):
    config = gradients.get_config("smoke")
    with_overrides(config, truncate_steps=7, cells="elman_tanh", num_train_steps=2)
    results = rnn_gradients.main(config, tmp_path)
    row = results["cells"]["elman_tanh"]
    for norms in (row["norms_init"], row["norms_trained"], results["exploding"]["norms_init"]):
        assert np.all(np.asarray(norms[7:]) == 0) and np.all(np.asarray(norms[:7]) > 0)


def test_lag_beyond_the_sequence_is_refused(tmp_path):
    config = gradients.get_config("smoke")
    with_overrides(config, lag=40)
    with pytest.raises(ValueError, match=r"--config.lag=40 must be below --config.seq_len=40"):
        rnn_gradients.main(config, tmp_path)
