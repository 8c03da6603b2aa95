"""The LSTM LM config (experiments/configs/lm/lstm.py) trains end to end through the main job's
script, in process: a model file with a carry cache instead of a KV cache and no max_len."""

import logging

from experiments import train_lm
from experiments.configs.lm import lstm
from research.train.metrics import read_metrics


def test_lstm_smoke_run_learns_and_samples_through_the_carry_cache(tmp_path, caplog):
    # Catches a recurrent model the script cannot build (it reads max_len, say), a loss that does
    # not fall (no gradient through the scan), or a decoding cache the sampler cannot loop over.
    config = lstm.get_config("smoke")
    config.data.data_dir = None
    # The absl logger's own level: an earlier absl app.run in the same process may raise it.
    with caplog.at_level(logging.INFO, logger="absl"):
        result = train_lm.main(config, tmp_path / "run")
    assert result.step == config.num_train_steps == 20
    evals = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "eval/loss" in r]
    assert [r["step"] for r in evals] == [10, 20]
    losses = [r["eval/loss"] for r in evals]
    # Measured 3.968 then 3.610 (jax 0.10.2, Python 3.11). GPT-2's normal(0.02) embedding init,
    # which leaves an LSTM on the unigram plateau, ended at 3.84 (4.83 at step 10).
    assert losses[0] > losses[1] and 3.4 < losses[1] < 3.8, losses
    samples = [r.getMessage() for r in caplog.records if "Sample from 'The '" in r.getMessage()]
    assert len(samples) == 1 and len(samples[0].split(":\n", 1)[1]) >= len("The ")
