"""The masked-LM + fine-tuning experiment: its docstring arrays by hand, the warm start of the
encoder only, and the smoke run end to end (files, learning beyond a uniform guess)."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import train_mlm
from experiments.configs.bert import mlm
from research.models import bert
from research.tasks.docstring_packages import docstring_packages
from research.tasks.tokenizer import load_or_train_tokenizer
from research.train.metrics import read_metrics

CLS, PAD = 1, 0


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
    task = train_mlm.finetune_task(
        config, tokenizer, docstring_packages(config.finetune), pretrained
    )
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
