"""The masked-LM + fine-tuning experiment: its helpers by hand, the warm start, and the smoke run end
to end (files, learning beyond a uniform guess, resume of finished stages trains nothing)."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import train_mlm
from experiments.configs.bert import mlm
from research.models import bert
from research.tasks.tokenizer import load_or_train_tokenizer
from research.text import special_tokens
from research.train.metrics import read_metrics

CLS, SEP, PAD, MASK = 1, 2, 0, 4


def test_with_cls_and_unigram_loss_by_hand():
    np.testing.assert_array_equal(
        train_mlm.with_cls(np.array([[7, 8], [9, 9]])), [[1, 7, 8], [1, 9, 9]]
    )
    # counts + 1 over 4 ids: [1, 3, 2, 1] / 7; two masked targets, ids 1 and 2
    batches = [{"mlm_targets": np.array([[1, 2, 3]]), "mlm_weights": np.array([[1.0, 1.0, 0.0]])}]
    loss = train_mlm.unigram_loss(np.array([1, 1, 2]), batches, vocab_size=4)
    assert loss == pytest.approx(-(np.log(3 / 7) + np.log(2 / 7)) / 2)


def test_masked_eval_batches_are_fixed_and_skip_padding_and_specials():
    config = mlm.get_config("smoke")
    tokens = np.arange(10, 10 + 7 * 31).reshape(7, 31) % 900 + 10
    tokens[:, 5] = SEP
    weights = np.ones((7, 31), np.float32)
    weights[6, 10:] = 0  # the padded tail of the stream
    weights[5:6] = 0  # a whole padding row
    batch = {"inputs": np.where(weights > 0, tokens, 0), "weights": weights}
    first = train_mlm.masked_eval_batches([batch], config, vocab_size=1024)[0]
    again = train_mlm.masked_eval_batches([batch], config, vocab_size=1024)[0]
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    selected = first["mlm_weights"] > 0
    assert selected.sum() > 0
    assert not selected[:, 0].any() and not selected[:, 6].any()  # [CLS] and [SEP] never
    assert not selected[5].any() and not selected[6, 11:].any()  # padding never
    np.testing.assert_array_equal(first["attention_mask"][6, :11], 1)
    np.testing.assert_array_equal(first["attention_mask"][6, 11:], 0)
    assert first["attention_mask"][5].sum() == 0
    np.testing.assert_array_equal(first["mlm_targets"][:, 1:], batch["inputs"])
    assert (first["mlm_inputs"][selected] == MASK).mean() > 0.5


class _WordTokenizer:
    def encode(self, text):
        return np.asarray([10 + len(word) for word in text.split()], np.int32)


def test_docstring_arrays_by_hand():
    arrays = train_mlm.docstring_arrays(
        _WordTokenizer(), ["a bb ccc dddd", "xyz", "q"], ["json", "os", "re"], ["os", "json"], 4
    )
    np.testing.assert_array_equal(arrays["tokens"], [[CLS, 11, 12, 13], [CLS, 13, PAD, PAD]])
    np.testing.assert_array_equal(arrays["attention_mask"], [[1, 1, 1, 1], [1, 1, 0, 0]])
    np.testing.assert_array_equal(arrays["label"], [1, 0])  # 're' is not a chosen class


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    config = mlm.get_config("smoke")
    workdir = tmp_path_factory.mktemp("mlm")
    return config, workdir, train_mlm.main(config, workdir)


def test_smoke_run_writes_results_and_learns(smoke):
    config, workdir, results = smoke
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "results.md").read_text().startswith("| stage |")
    assert (workdir / "bert_mlm.png").stat().st_size > 0
    assert (workdir / "tokenizer").is_dir()
    pre = results["pretrain"]
    assert pre["steps"] == 20 and np.isfinite(pre["unigram_loss"])
    # Better than a uniform guess over the 1024 ids after 20 steps (observed 6.74 < 6.93).
    assert pre["eval_loss"] < np.log(config.model.vocab_size)
    assert len(results["classes"]) == 3
    for row in results["finetune"].values():
        assert row["steps"] == 10 and 0.0 <= row["accuracy"] <= 1.0
    evals = [r for r in read_metrics(workdir / "pretrain" / "metrics.jsonl") if "eval/loss" in r]
    assert [r["step"] for r in evals] == [10, 20]


def test_warm_start_loads_the_encoder_and_keeps_fresh_heads(smoke):
    config, workdir, _ = smoke
    tokenizer = load_or_train_tokenizer(config, workdir, [])  # the saved one
    pretrained = jax.tree.map(
        lambda x: np.asarray(jax.random.normal(jax.random.key(3), x.shape)),
        nn.unbox(
            jax.eval_shape(
                bert.make(**config.model.to_dict()).init,
                jax.random.key(0),
                jnp.zeros((1, 8), jnp.int32),
            )["params"]
        ),
    )
    task, _ = train_mlm.finetune_task(config, tokenizer, pretrained)
    init = jax.jit(
        lambda r: task.warm_start(task.model.init({"params": r}, *task.init_inputs)["params"])
    )
    params = nn.unbox(init(jax.random.key(0)))
    np.testing.assert_array_equal(params["block_1"]["mlp"]["wo"]["kernel"],
                                  pretrained["block_1"]["mlp"]["wo"]["kernel"])  # fmt: skip
    np.testing.assert_array_equal(params["embed"]["embedding"], pretrained["embed"]["embedding"])
    assert "mlm" not in params and set(params["classifier"]) == {"kernel", "bias"}
    assert np.all(params["pooler"]["bias"] == 0)  # fresh head
    boxed = jax.eval_shape(init, jax.random.key(0))
    assert boxed["block_0"]["attn"]["query"]["kernel"].names == ("embed", "heads", "kv")


def test_rerun_restores_every_finished_stage(smoke):
    config, workdir, results = smoke
    before = {p: p.stat().st_mtime for p in workdir.glob("*/checkpoints/*")}
    assert train_mlm.main(config, workdir) == results
    assert {p: p.stat().st_mtime for p in workdir.glob("*/checkpoints/*")} == before
    assert special_tokens.MASK_ID == MASK
