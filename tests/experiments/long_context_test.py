"""The long-context experiment at smoke size: every run trains, exact implementations agree."""

import json

import pytest

from experiments import long_context
from experiments.configs.attention import long_context as long_context_config


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("long_context")
    return long_context.main(long_context_config.get_config("smoke"), workdir), workdir


def test_every_run_reports_loss_and_time_at_the_long_context(results):
    results, workdir = results
    config = long_context_config.get_config("smoke")
    assert [r["run"] for r in results["rows"]] == list(config.runs)
    for row in results["rows"]:
        assert row["context"] == 64 and row["batch_size"] == 4 and row["steps"] == 4
        assert 0 < row["eval_nats_per_byte"] < 10 and row["seconds_per_step"] > 0
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "long_context.png").stat().st_size > 0
    assert "| einsum |" in (workdir / "results.md").read_text()


def test_approximations_train_and_differ_from_exact_attention(results):
    # A 16-key window and Performer's features change the computation: their losses are finite
    # and not the einsum run's (had the window or the features been ignored, they would be).
    rows = {r["run"]: r for r in results[0]["rows"]}
    for name in ("local_16", "performer_32"):
        assert rows[name]["eval_loss"] != pytest.approx(rows["einsum"]["eval_loss"], rel=1e-5)


def test_exact_implementations_reach_the_einsum_loss(results):
    # Same seed, data and weights: an exact attention implementation changes only float rounding,
    # so a wrong mask or scale in it shows here as a different loss. ('xla' is not in the smoke
    # runs: tests/research/models/transformer_lm_test.py checks its loss and gradients.)
    rows = {r["run"]: r for r in results[0]["rows"]}
    assert rows["blockwise"]["eval_loss"] == pytest.approx(rows["einsum"]["eval_loss"], rel=1e-4)
