"""The long-range memory experiment end to end in smoke mode: its files, its accuracy criterion, and a
trained LSTM that beats predicting the mean (a broken readout, loss or data stream would not)."""

import json
import types

import numpy as np
import pytest

from experiments import rnn_memory
from experiments.configs.rnn import memory
from research.data.memory_tasks import adding_problem
from tests.config_overrides import with_overrides


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rnn_memory")
    return workdir, rnn_memory.main(memory.get_config("smoke"), workdir)


def test_smoke_run_writes_the_table_and_plot(smoke):
    workdir, results = smoke
    config = memory.get_config("smoke")
    assert json.loads((workdir / "results.json").read_text()) == results
    table = (workdir / "results.md").read_text()
    for kind in config.cells.split(","):
        for length in config.lengths:
            assert f"| {kind} | {length} |" in table
            curve = results["runs"][kind][str(length)]["curve"]
            steps = list(range(config.eval_every_steps, config.num_train_steps + 1, 20))
            assert [p["step"] for p in curve] == steps
    assert (workdir / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The test set is the adding problem's: predicting 1.0 scores about 1/6.
    assert abs(results["mean_baseline_test_mse"] - 1 / 6) < 0.03


def test_accuracy_counts_errors_strictly_below_the_tolerance():
    # Catches a criterion on the squared error (0.04**2 would count almost nothing) or with <=.
    test = {"x": np.zeros((4, 3, 2), np.float32), "y": np.array([1.0, 0.5, 1.5, 0.2], np.float32)}
    offsets = np.array([0.0, 0.039, -0.0405, 0.1], np.float32)
    model = types.SimpleNamespace(apply=lambda variables, x: variables["params"])
    scores = rnn_memory.evaluate(model, test["y"] + offsets, test, tolerance=0.04)
    assert scores["accuracy"] == 0.5
    np.testing.assert_allclose(scores["mse"], np.mean(offsets**2), rtol=1e-5)


def test_the_means_accuracy_is_what_predicting_one_scores_on_the_data():
    # The table's chance level: ~0.078 at tolerance 0.04, not 0 (a gated cell at 0.08 is stuck).
    y = adding_problem(40000, 10, seed=5)["y"]
    empirical = np.mean(np.abs(y - 1.0) < 0.04)
    assert abs(rnn_memory.mean_baseline_accuracy(0.04) - empirical) < 0.005


def test_a_trained_lstm_beats_the_mean_at_a_short_length(tmp_path):
    # Catches a readout of the wrong step, a loss or target that ignores the markers, and an
    # optimizer that never updates: each leaves the test MSE at the mean's ~0.167.
    # Measured: test MSE 0.008 after 400 steps at T = 8 (the mean scores 0.16).
    config = memory.get_config("smoke")
    with_overrides(config, cells="lstm", num_train_steps=400, eval_every_steps=200)
    results = rnn_memory.main(config, tmp_path)
    row = results["runs"]["lstm"]["8"]
    assert row["mse"] < 0.25 * results["mean_baseline_test_mse"]
    assert row["accuracy"] > row["curve"][0]["accuracy"] - 0.05


def test_a_budget_that_is_not_a_whole_number_of_evaluations_is_refused(tmp_path):
    config = with_overrides(memory.get_config("smoke"), num_train_steps=50)
    with pytest.raises(ValueError, match=r"num_train_steps=50 must be a multiple of"):
        rnn_memory.main(config, tmp_path)
