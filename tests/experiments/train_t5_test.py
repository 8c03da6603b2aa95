"""The T5 experiment end to end: the smoke run pre-trains, fine-tunes from the pre-trained weights
and from scratch, scores greedy exact match and writes results and the plot; a preempted stage
stops the experiment (earlier stages restored); the eval metric equals scoring done here by hand;
the warm start loads every weight."""

import json
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import stages, train_t5
from experiments.configs.t5 import span_corruption as t5_config
from research.data import pydoc_topics
from research.generate import decoding
from research.models import t5
from research.tasks.byte_text import byte_vocabulary, windows
from research.tasks.docstring_packages import docstring_packages
from research.train import loop, span_corruption
from research.train.metrics import read_metrics
from tests.experiments.preemption import preempt_stage

STAGES = ("pretrain", "finetune_pretrained", "finetune_scratch")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("t5")
    config = t5_config.get_config("smoke")
    return config, workdir, train_t5.main(config, workdir)


def test_smoke_run_pretrains_finetunes_and_reports(smoke_run):
    config, workdir, results = smoke_run
    assert jax.device_count() == 8
    assert results["pretrain"]["steps"] == 20
    assert set(results["finetune"]) == {"pretrained", "scratch"}
    assert len(results["classes"]) == 3
    pre = read_metrics(workdir / "pretrain" / "metrics.jsonl")
    train = [r["train/loss"] for r in pre if "train/loss" in r]
    assert len(train) == 4 and train[-1] < train[0]
    for stage in ("finetune_pretrained", "finetune_scratch"):
        evals = [r for r in read_metrics(workdir / stage / "metrics.jsonl") if "eval/loss" in r]
        assert [r["step"] for r in evals] == [10]
        assert 0.0 <= evals[-1]["eval/exact_match"] <= 1.0
    assert json.loads((workdir / "results.json").read_text()) == results
    assert "test exact match (3 classes)" in (workdir / "results.md").read_text()
    png = (workdir / "t5_span_corruption.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


@pytest.mark.parametrize("number, stage", list(enumerate(STAGES, start=1)))
def test_a_preempted_stage_stops_the_experiment(smoke_run, tmp_path, monkeypatch, number, stage):
    """The finished run with stage `number` and every later one removed: the earlier stages are
    restored (one `loop.train` call each), the removed stage is preempted after one step, and
    nothing after it starts: no later stage directory, no results."""
    config, finished, _ = smoke_run
    workdir = tmp_path / "t5"
    shutil.copytree(finished, workdir)
    for name in STAGES[number - 1 :]:
        shutil.rmtree(workdir / name)
    for name in ("results.json", "results.md", "t5_span_corruption.png"):
        (workdir / name).unlink()
    preempt_stage(monkeypatch, number)
    with pytest.raises(stages.StagePreempted, match=f"stage '{stage}' at step 1"):
        train_t5.main(config, workdir)
    assert sorted(p.name for p in workdir.iterdir()) == sorted(STAGES[:number])


def test_pretrain_data_is_span_corruption_of_the_corpus_windows():
    """Every training pair interleaves back into a window of the corpus's byte stream."""
    config = t5_config.get_config("smoke")
    vocab = byte_vocabulary(config)
    train, held_out = train_t5.pretrain_arrays(config, vocab)
    corpus = windows(vocab, pydoc_topics.load_texts("train"), 32)
    assert train["inputs"].shape == (len(corpus), span_corruption.corrupted_lengths(32)[0])
    sentinels = vocab.sentinel_ids()
    inside = [i for i in range(len(corpus)) if vocab.eos_id not in corpus[i]]  # no doc break
    assert len(inside) > len(corpus) // 2
    for i in inside[:: len(inside) // 5]:
        restored = span_corruption.uncorrupt(
            train["inputs"][i], train["targets"][i], sentinels, vocab.eos_id
        )
        np.testing.assert_array_equal(restored, corpus[i])
    assert held_out["inputs"].shape[0] == config.data.num_eval


def test_eval_exact_match_equals_generation_scored_by_hand(smoke_run):
    """The loop's final eval/exact_match equals greedy generation through the decoding protocol,
    decoded to text and compared with the package names here (padding rows count for nothing)."""
    config, workdir, results = smoke_run
    docs = docstring_packages(config.finetune)
    task = train_t5.finetune_task(config, docs)
    vocab = byte_vocabulary(config)
    # The finished scratch run's parameters from its checkpoint, through the loop's own restore.
    result = loop.train(config.finetune, workdir / "finetune_scratch", task)
    params = jax.device_get(result.state.params)
    batches = task.eval_batches()
    model = t5.make(**config.model.to_dict())
    hits = total = 0
    for batch in batches:
        generated = decoding.decode(
            model, params, jnp.asarray(batch["inputs"]), num_tokens=batch["targets"].shape[1],
            select=train_t5.GREEDY, rng=jax.random.key(0), eos_id=vocab.eos_id,
            prompt_mask=jnp.asarray(batch["inputs"]) != vocab.pad_id,
        )  # fmt: skip
        names = [vocab.decode(row) for row in np.asarray(generated)]
        labels = [vocab.decode(row) for row in batch["targets"]]
        real = batch["weights"] > 0
        hits += sum(n == lab for n, lab, r in zip(names, labels, real, strict=True) if r)
        total += int(real.sum())
    last = [r for r in read_metrics(workdir / "finetune_scratch" / "metrics.jsonl")
            if "eval/exact_match" in r][-1]  # fmt: skip
    assert last["eval/exact_match"] == pytest.approx(hits / total, abs=1e-7)
    assert docs.classes == results["classes"]


def test_warm_start_loads_every_pretrained_weight():
    config = t5_config.get_config("smoke")
    model = t5.make(**config.model.to_dict())
    inputs, targets = jnp.ones((1, 8), jnp.int32), jnp.ones((1, 4), jnp.int32)
    pretrained = nn.unbox(model.init(jax.random.key(1), inputs, targets)["params"])

    docs = docstring_packages(config.finetune)

    def warm_init(pretrained):
        task = train_t5.finetune_task(config, docs, pretrained)
        return task.warm_start(task.model.init(jax.random.key(2), inputs, targets)["params"])

    loaded = nn.unbox(warm_init(pretrained))
    jax.tree.map(np.testing.assert_array_equal, loaded, pretrained)
    wrong = jax.tree.map(lambda x: x[..., :1], pretrained)
    with pytest.raises(ValueError, match="fine-tune a model of the pre-trained size"):
        warm_init(wrong)
