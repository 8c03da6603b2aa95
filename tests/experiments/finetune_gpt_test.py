"""The GPT fine-tuning experiment end to end: the smoke run pre-trains, fine-tunes from the
pre-trained weights and from scratch, scores greedy exact match and writes results and the plot;
the eval metric equals greedy generation done here without a cache or left padding; the
sequences put the loss on the label + EOS only; the warm start loads every weight."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import finetune_gpt
from experiments.configs.gpt import classify as gpt_config
from research.data import text_to_text
from research.models import transformer_lm
from research.tasks.byte_text import byte_vocabulary
from research.tasks.docstring_packages import docstring_packages
from research.train import loop
from research.train.metrics import read_metrics


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gpt_finetune")
    config = gpt_config.get_config("smoke")
    return config, workdir, finetune_gpt.main(config, workdir)


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
    png = (workdir / "gpt_finetune.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def greedy_without_cache(model, params, prompts, prompt_lengths, num_tokens):
    """Greedy generation by full forward passes (no cache, no mask): each row's prompt sits at
    the start of a right-padded buffer and the next token is read at the row's last position,
    which causality keeps independent of the padding after it."""
    batch, width = prompts.shape[0], prompts.shape[1] + num_tokens
    buffer = np.zeros((batch, width), np.int32)
    buffer[:, : prompts.shape[1]] = prompts
    lengths = np.array(prompt_lengths)
    forward = jax.jit(lambda p, t: model.apply({"params": p}, t))
    out = np.zeros((batch, num_tokens), np.int32)
    for i in range(num_tokens):
        logits = np.asarray(forward(params, jnp.asarray(buffer)))
        out[:, i] = np.argmax(logits[np.arange(batch), lengths - 1], axis=-1)
        buffer[np.arange(batch), lengths] = out[:, i]
        lengths += 1
    return out


def test_eval_exact_match_equals_generation_scored_by_hand(smoke_run):
    """The loop's final eval/exact_match (cached decoding of left-padded prompt batches) equals
    cache-free greedy generation of each prompt at its own length, decoded to text and compared
    with the package names here (padding rows count for nothing)."""
    config, workdir, results = smoke_run
    docs = docstring_packages(config.finetune)
    task = finetune_gpt.finetune_task(config, docs)
    vocab = byte_vocabulary(config)
    result = loop.train(config.finetune, workdir / "finetune_scratch", task)  # restores
    params = jax.device_get(result.state.params)
    model = transformer_lm.make(**config.model.to_dict())
    hits = total = 0
    for batch in task.eval_batches():
        real = batch["weights"] > 0
        prompts = [
            row[mask] for row, mask in zip(batch["prompt"], batch["prompt_mask"], strict=True)
        ]
        width = batch["prompt"].shape[1]
        right = np.zeros((len(prompts), width), np.int32)
        for i, p in enumerate(prompts):
            right[i, : len(p)] = p
        lengths = [max(len(p), 1) for p in prompts]
        generated = greedy_without_cache(model, params, right, lengths, batch["label"].shape[1])
        for row, label, is_real in zip(generated, batch["label"], real, strict=True):
            if is_real:  # the name's ids, then EOS, where the label has them
                n = int(np.sum(label != vocab.pad_id))
                hits += bool(np.array_equal(row[:n], label[:n]))
                total += 1
    last = [r for r in read_metrics(workdir / "finetune_scratch" / "metrics.jsonl")
            if "eval/exact_match" in r][-1]  # fmt: skip
    assert total == sum(int(b["weights"].sum()) for b in task.eval_batches())
    assert last["eval/exact_match"] == pytest.approx(hits / total, abs=1e-7)
    assert docs.classes == results["classes"]


def test_sequences_by_hand():
    """Two pairs through `encode_pairs`' layout: the sequence is input text (its EOS dropped) +
    separator + label + EOS + padding; the weights cover the label and its EOS only; the prompt is
    left-padded; a wrong shift of the weights (onto the separator, or past EOS) would fail."""
    vocab = text_to_text.ByteVocabulary()
    pairs = text_to_text.encode_pairs(
        vocab, ["ab", "c"], ["x", "yz"], max_input_len=4, max_target_len=3
    )
    got = finetune_gpt.sequence_arrays(vocab, pairs, "=")
    a, b, c, x, y, z, eq = (vocab.encode(s)[0] for s in "abcxyz=")
    eos = vocab.eos_id
    np.testing.assert_array_equal(
        got["tokens"], [[a, b, eq, x, eos, 0, 0], [c, eq, y, z, eos, 0, 0]]
    )
    np.testing.assert_array_equal(
        got["target_weights"], [[0, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0, 0]]
    )
    np.testing.assert_array_equal(got["prompt"], [[a, b, eq], [0, c, eq]])
    np.testing.assert_array_equal(got["prompt_mask"], [[1, 1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(got["label"], pairs["targets"])


def test_finetune_task_uses_t5s_classes_and_cut():
    """Same classes, same test documents and the same 'classify: ' prompt bytes as train_t5."""
    from experiments import train_t5
    from experiments.configs.t5 import span_corruption

    config = gpt_config.get_config("smoke")
    t5_config = span_corruption.get_config("smoke")
    docs = docstring_packages(config.finetune)
    assert docs == docstring_packages(t5_config.finetune)
    task = finetune_gpt.finetune_task(config, docs)
    t5_task = train_t5.finetune_task(t5_config, docs)
    vocab = byte_vocabulary(config)
    mine, theirs = task.eval_batches(), t5_task.eval_batches()
    prompts = [
        vocab.decode(row[mask]) for b in mine for row, mask, w in
        zip(b["prompt"], b["prompt_mask"], b["weights"], strict=True) if w > 0
    ]  # fmt: skip
    inputs = [vocab.decode(row) for b in theirs for row, w in
              zip(b["inputs"], b["weights"], strict=True) if w > 0]  # fmt: skip
    separator = config.finetune.data.separator
    assert prompts == [text + separator for text in inputs]
    assert all(p.startswith("classify: ") for p in prompts)


def test_warm_start_loads_every_pretrained_weight():
    config = gpt_config.get_config("smoke")
    model = transformer_lm.make(**config.model.to_dict())
    tokens = jnp.ones((1, 8), jnp.int32)
    pretrained = nn.unbox(model.init(jax.random.key(1), tokens)["params"])

    docs = docstring_packages(config.finetune)

    def warm_init(pretrained):
        task = finetune_gpt.finetune_task(config, docs, pretrained)
        return task.warm_start(task.model.init(jax.random.key(2), tokens)["params"])

    boxed = warm_init(pretrained)
    jax.tree.map(np.testing.assert_array_equal, nn.unbox(boxed), pretrained)
    fresh = model.init(jax.random.key(2), tokens)["params"]
    is_box = lambda x: isinstance(x, nn.LogicallyPartitioned)
    names = lambda tree: jax.tree.leaves(jax.tree.map(lambda b: b.names, tree, is_leaf=is_box))
    assert names(boxed) == names(fresh)  # the logical axes survive: the loop shards it alike
    wrong = jax.tree.map(lambda x: x[..., :1], pretrained)
    with pytest.raises(ValueError, match="fine-tune a model of the pre-trained size"):
        warm_init(wrong)


def test_model_vocabulary_is_the_byte_vocabulary():
    config = gpt_config.get_config()
    assert config.model.vocab_size == text_to_text.ByteVocabulary().vocab_size == 293
    assert config.model.num_layers == 4 and config.model.embed_dim == 256  # the 'tiny' preset
    with pytest.raises(ValueError, match="use ':smoke' or nothing"):
        gpt_config.get_config("full")
