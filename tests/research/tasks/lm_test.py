"""The language-model task (research/tasks/lm.py) of the main job: its loss by hand, a trained
tokenizer (`config.tokenizer`) saved in the workdir and reused on resume (never retrained), a workdir
whose tokenizer differs from the config refused, vocabularies that do not fit refused, and
eval/nats_per_byte with exact byte counts."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs.lm import gpt_tiny
from research.data import text_corpus
from research.tasks.lm import build_task, lm_loss
from research.tasks.tokenizer import load_or_train_tokenizer
from research.text import tokenizers
from research.train import loop
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides


def smoke_config(**overrides):
    config = gpt_tiny.get_config("smoke")
    config.data.data_dir = None
    base = {"tokenizer.kind": "sentencepiece_bpe", "model.vocab_size": 512}
    return with_overrides(config, **{**base, **overrides})


def _train(config, workdir):
    """experiments/train_lm.py's main on one device (8 devices: train_lm_test.py; this is faster)."""
    return loop.train(config, workdir, build_task(config, workdir), jax.devices()[:1])


class _FixedLogits(nn.Module):
    """Logits [B,T,3] = (0, log 2, 0) at every position, whatever the inputs."""

    @nn.compact
    def __call__(self, inputs, train=False):
        return jnp.broadcast_to(jnp.log(jnp.array([1.0, 2.0, 1.0])), (*inputs.shape, 3))


def test_loss_and_nats_per_byte_by_hand():
    # p = (1/4, 1/2, 1/4): targets 1, 0, 2 cost log 2, log 4, log 4 nats; the third is padding
    # (weight 0), so the mean is 1.5 log 2 and nats per byte sums the weighted nats over 2 + 1 bytes.
    batch = {
        "inputs": np.zeros((1, 3), np.int32),
        "targets": np.array([[1, 0, 2]]),
        "weights": np.array([[1.0, 1.0, 0.0]]),
        "target_bytes": np.array([[2.0, 1.0, 5.0]]),
    }
    loss, metrics, state = lm_loss(_FixedLogits())({}, {}, batch, jax.random.key(0), False)
    np.testing.assert_allclose(loss, 1.5 * np.log(2), rtol=1e-6)
    nats, num_bytes = metrics["nats_per_byte"]
    np.testing.assert_allclose([nats, num_bytes], [3 * np.log(2), 3.0], rtol=1e-6)
    assert state == {}
    del batch["target_bytes"], batch["weights"]  # a training batch: no byte metric, all weighted
    loss, metrics, _ = lm_loss(_FixedLogits())({}, {}, batch, jax.random.key(0), True)
    np.testing.assert_allclose(loss, 5 / 3 * np.log(2), rtol=1e-6)
    assert "nats_per_byte" not in metrics


def test_trains_saves_and_resumes_with_the_saved_tokenizer(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    short = {"num_train_steps": 4, "eval_every_steps": 4, "checkpoint_every_steps": 2}
    short |= {"optimizer.warmup_steps": 2, "sample.num_tokens": 2}
    first = _train(smoke_config(**short), workdir)
    assert first.step == 4
    saved = tokenizers.saved_config(workdir / "tokenizer")
    assert saved["kind"] == "sentencepiece_bpe" and saved["requested_vocab_size"] == 512
    model_bytes = (workdir / "tokenizer" / "sentencepiece.model").read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a resumed run retrained its tokenizer")

    monkeypatch.setattr(tokenizers, "train", no_training)
    longer = {**short, "num_train_steps": 6, "eval_every_steps": 6}
    second = _train(smoke_config(**longer), workdir)
    assert second.step == 6
    assert (workdir / "tokenizer" / "sentencepiece.model").read_bytes() == model_bytes
    evals = [r for r in read_metrics(workdir / "metrics.jsonl") if "eval/loss" in r]
    assert [r["step"] for r in evals] == [4, 6]
    for r in evals:
        # ~1.9 bytes per token here, so nats per byte is about half the loss in nats per token.
        assert 0.4 < r["eval/nats_per_byte"] / r["eval/loss"] < 0.7, r
        assert r["eval/ngram_nats_per_byte"] < r["eval/ngram_loss"]


def test_a_workdir_with_another_tokenizer_is_refused(tmp_path):
    workdir = tmp_path / "run"
    config = smoke_config()
    load_or_train_tokenizer(config, workdir, ["some training text\n"] * 50)
    with pytest.raises(ValueError) as e:
        build_task(smoke_config(**{"tokenizer.kind": "byte_bpe"}), workdir)
    message = str(e.value)
    assert message.startswith(f"workdir {workdir} was trained with the tokenizer {{'kind': ")
    assert "'sentencepiece_bpe'" in message and "'byte_bpe'" in message
    assert message.endswith("use a new --workdir or set --config.tokenizer to the saved settings.")
    with pytest.raises(ValueError, match="was trained with the tokenizer"):
        build_task(smoke_config(**{"tokenizer.kind": "bytes"}), workdir)
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)  # a bytes run from before tokenizers
    with pytest.raises(ValueError, match=r"tokenizer \{'kind': 'bytes', 'requested_vocab_size'"):
        build_task(smoke_config(), tmp_path / "old")


def test_vocabularies_that_do_not_fit_are_refused(tmp_path):
    with pytest.raises(ValueError) as e:
        build_task(smoke_config(**{"tokenizer.vocab_size": 1024}))
    assert str(e.value) == (
        "tokenizer.vocab_size=1024 exceeds model.vocab_size=512; set "
        "--config.model.vocab_size=1024."
    )
    with pytest.raises(ValueError, match=r"^tokenizer kind 'bpe' is unknown"):
        build_task(smoke_config(**{"tokenizer.kind": "bpe"}))
    bytes_config = smoke_config(**{"tokenizer.kind": "bytes", "model.vocab_size": 200})
    with pytest.raises(ValueError, match="vocab_size=200.*--config.model.vocab_size=257"):
        build_task(bytes_config)


@pytest.mark.parametrize("kind", ["bytes", "byte_bpe"])
def test_eval_batches_carry_the_exact_bytes_of_every_target(kind, tmp_path):
    task = build_task(smoke_config(**{"tokenizer.kind": kind}), tmp_path)
    tokenizer = tokenizers.load(tmp_path / "tokenizer")
    texts = text_corpus.load_texts("pydoc_topics", "validation", data_dir=None)
    _, counts = tokenizers.encode_documents_with_bytes(tokenizer, texts)
    counted = sum(float(np.sum(b["target_bytes"] * b["weights"])) for b in task.eval_batches())
    # Every byte of the text except those of the first token (not a target) is counted once; a
    # shifted byte stream, a padded position counted or a byte counted twice breaks the equality.
    total = sum(len(t.encode()) for t in texts)
    assert counted == total - counts[0] and counts[0] >= 1
