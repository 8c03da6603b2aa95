"""The GloVe task: exact resume without counting again, the loss's config section, bad input as one
sentence."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments.configs.embeddings import glove as glove_config
from research.embeddings import cooccurrence
from research.tasks.glove import build_task, count_cooccurrences
from research.train import loop
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.research.train.toy_task import Crash, CrashAt


def _config(**overrides):
    return with_overrides(glove_config.get_config("smoke"), **overrides)


def test_the_loss_reads_x_max_and_alpha_from_the_loss_section(tmp_path):
    """Bug caught: the task ignoring --config.loss.* (or reading the model section's old keys)."""
    config = _config()
    counts = count_cooccurrences(config, tmp_path)
    batch = {"rows": np.array([0, 1]), "cols": np.array([1, 0]), "counts": np.array([1.0, 4.0])}
    params = {
        "word": {"embedding": np.zeros((256, 16), np.float32)},
        "context": {"embedding": np.zeros((256, 16), np.float32)},
        "word_bias": np.zeros(256, np.float32),
        "context_bias": np.zeros(256, np.float32),
    }

    def loss(**overrides):
        task = build_task(_config(**overrides), counts)
        return float(task.loss_fn(params, {}, batch, None, True)[0])

    # Predictions 0: 0.5 * (f(1) * 0 + f(4) * log(4)^2), f(4) = min(1, (4 / x_max)^alpha).
    assert loss() == pytest.approx(0.5 * 0.04**0.75 * np.log(4.0) ** 2, rel=1e-6)
    assert loss(**{"loss.x_max": 2.0}) == pytest.approx(0.5 * np.log(4.0) ** 2, rel=1e-6)
    assert loss(**{"loss.alpha": 1.0}) == pytest.approx(0.5 * 0.04 * np.log(4.0) ** 2, rel=1e-6)


def _losses(workdir) -> dict[int, float]:
    return {
        r["step"]: r["train/loss"]
        for r in read_metrics(workdir / "metrics.jsonl")
        if "train/loss" in r
    }


def test_resume_equals_the_uninterrupted_run_and_does_not_count_again(tmp_path, monkeypatch):
    overrides = {"num_train_steps": 12, "log_every_steps": 1, "checkpoint_every_steps": 4}
    config = _config(**overrides, **{"eval_every_steps": 12, "mesh.data": 1})
    one = jax.devices()[:1]
    task = build_task(config, count_cooccurrences(config, tmp_path / "full"))
    full = loop.train(config, tmp_path / "full", task, devices=one)
    task = build_task(config, count_cooccurrences(config, tmp_path / "part"))
    crashing = dataclasses.replace(
        task, train_iterator=lambda i, n: CrashAt(task.train_iterator(i, n), 11)
    )
    with pytest.raises(Crash):
        loop.train(config, tmp_path / "part", crashing, devices=one)
    assert max(_losses(tmp_path / "part")) == 9  # batch 11 is drawn while step 10 runs

    def refuse(*args, **kwargs):
        raise AssertionError("the co-occurrences were counted again on resume")

    monkeypatch.setattr(cooccurrence, "count", refuse)
    counts = count_cooccurrences(config, tmp_path / "part")
    assert counts.count_seconds == 0.0
    task = build_task(config, counts)
    resumed = loop.train(config, tmp_path / "part", task, devices=one)
    assert resumed.step == 12
    assert _losses(tmp_path / "part") == _losses(tmp_path / "full")  # exact, every step
    for a, b in zip(
        jax.tree.leaves(jax.device_get(resumed.state.params)),
        jax.tree.leaves(jax.device_get(full.state.params)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.window": 0}, r"--config.data.window=0 must be at least 1"),
        ({"model.embed_dim": 0}, r"--config.model.embed_dim=0 must be at least 1"),
        ({"data.min_count": 10**9}, r"no word occurs at least min_count=1000000000 times"),
        ({"data.corpus": "wiki"}, r"--config.data.corpus='wiki' is not known; use one of"),
    ],
    ids=["window", "dim", "empty-vocabulary", "corpus"],
)
def test_bad_input_is_one_sentence(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        count_cooccurrences(_config(**overrides), tmp_path)
