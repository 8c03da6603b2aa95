"""word2vec and FastText end to end: the planted clusters recovered, gensim loads the exported
vectors, bad input as one sentence (the task's own tests: tests/research/tasks/word2vec_test.py)."""

import jax
import numpy as np
import pytest

from experiments import train_word2vec as tw
from experiments.configs.embeddings import fasttext, word2vec
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.reference_packages import import_reference


def _config(module=word2vec, **overrides):
    return with_overrides(module.get_config("smoke"), **overrides)


@pytest.mark.parametrize(
    "module, architecture",
    [(word2vec, "skipgram"), (word2vec, "cbow"), (fasttext, "skipgram")],
    ids=["skipgram", "cbow", "fasttext"],
)
def test_smoke_recovers_the_planted_clusters(tmp_path, module, architecture):
    """The issue's test: >= 0.9 nearest-neighbour cluster accuracy on the planted corpus (8
    devices, FastText with its tables sharded over 2 'tensor' devices; 50 steps of 4096 examples,
    FastText's of 768 centers). Measured: 1.0 for all three; analogy accuracy (3CosAdd) 0.27
    skip-gram, 0.87 CBOW, 0.72 FastText."""
    overrides = {"model.architecture": architecture}
    if module is fasttext:  # the vocabulary and the bucket table shard their rows over 'tensor'
        overrides |= {"mesh.data": 4, "mesh.tensor": 2}
    vectors, results, result = tw.train(_config(module, **overrides), tmp_path)
    assert jax.device_count() == 8 and results["steps"] == 50
    if module is fasttext:
        for name in ("embedding", "ngrams", "output"):
            spec = result.params[name].sharding.spec
            assert tuple(spec)[:1] == ("tensor",), (name, spec)
    assert results["cluster_accuracy"] >= 0.9
    assert 0 <= results["analogy_accuracy_add"] <= 1
    for name in ("vectors.txt", "vocabulary.json", "results.json", "results.md", "word2vec.png"):
        assert (tmp_path / name).exists()
    losses = [
        r["train/loss"] for r in read_metrics(tmp_path / "metrics.jsonl") if "train/loss" in r
    ]
    assert losses[-1] < losses[0]
    if module is word2vec and architecture == "skipgram":
        gensim = import_reference("gensim")
        kv = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"))
        assert kv.index_to_key == list(vectors.words)
        np.testing.assert_allclose(kv.vectors, vectors.vectors, rtol=1e-6)
        with pytest.raises(ValueError, match="'c0_r0zz' is not in the vocabulary of"):
            vectors.vector("c0_r0zz")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.min_count": 10**9}, "no word occurs at least min_count=1000000000"),
        ({"data.window": 0}, "window=0 must be >= 1"),
        ({"model.embed_dim": 0}, "embed_dim=0 must be >= 1"),
        ({"data.negative": 0}, "--config.data.negative=0 must be >= 1"),
        ({"data.corpus": "wiki"}, "--config.data.corpus='wiki' is not known"),
    ],
)
def test_bad_input_is_one_sentence(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        tw.train(_config(**overrides), tmp_path)
