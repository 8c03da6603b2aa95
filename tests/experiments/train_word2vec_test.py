"""word2vec and FastText end to end: the planted clusters recovered, gensim loads the exported
vectors, FastText answers unseen words from n-grams (by hand), resume equals the uninterrupted run."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments import train_word2vec as tw
from experiments.configs.embeddings import fasttext, word2vec
from research.embeddings import subword_ngrams
from research.embeddings.vocabulary import Vocabulary
from research.models.fasttext import unseen_bucket_vector
from research.train import loop
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.reference_packages import import_reference
from tests.research.train.toy_task import Crash, CrashAt


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
            spec = result.state.params[name].sharding.spec
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


def test_fasttext_vectors_by_hand_and_unseen_words():
    """In-vocabulary: mean of the word row and its n-gram rows (gensim's adjust_vectors);
    out-of-vocabulary: mean of its n-gram buckets' vectors, from the bucket ids gensim would use:
    a trained row where the vocabulary uses the bucket, else the bucket's untrained initial value."""
    config = _config(fasttext, **{"model.num_buckets": 50, "model.embed_dim": 4})
    vocab = Vocabulary(("where", "here"), np.array([3, 2]))
    model = tw.build_task(config, vocab, [np.array([0, 1, 0])]).model
    _, _, used = tw.subword_table(config, vocab)
    assert len(used) < 50 and model.config.ngram_rows == model.config.vocab_size == 128  # padded
    rng = np.random.default_rng(0)
    params = {
        "embedding": rng.normal(size=(128, 4)).astype(np.float32),
        "ngrams": rng.normal(size=(128, 4)).astype(np.float32),
        "output": np.zeros((128, 4), np.float32),
    }
    vectors = tw.export_vectors(config, model, params, vocab)

    def bucket_vector(b):
        if b in used:
            return params["ngrams"][list(used).index(b)]
        return unseen_bucket_vector(b, 4, config.seed)

    ids = subword_ngrams.ngram_buckets("where", 3, 6, 50)
    want = (params["embedding"][0] + sum(bucket_vector(b) for b in ids)) / (1 + len(ids))
    np.testing.assert_allclose(vectors.vector("where"), want, rtol=1e-5)
    assert "wherever" not in vectors
    ids = subword_ngrams.ngram_buckets("wherever", 3, 6, 50)
    assert {b in used for b in ids} == {True, False}  # both kinds of bucket are exercised
    want = np.mean([bucket_vector(b) for b in ids], axis=0)
    np.testing.assert_allclose(vectors.vector("wherever"), want, rtol=1e-5)
    assert np.all(unseen_bucket_vector(7, 4, 0) == unseen_bucket_vector(7, 4, 0))
    assert np.abs(unseen_bucket_vector(7, 4, 0)).max() <= 0.5 / 4


def _losses(workdir) -> dict[int, float]:
    return {
        r["step"]: r["train/loss"]
        for r in read_metrics(workdir / "metrics.jsonl")
        if "train/loss" in r
    }


def test_resume_after_a_crash_matches_the_uninterrupted_run(tmp_path):
    overrides = {
        "num_train_steps": 12,
        "log_every_steps": 1,
        "checkpoint_every_steps": 4,
        "data.batch_size": 512,
        "mesh.data": 1,
        "model.architecture": "cbow",
    }
    config = _config(**overrides)
    one = jax.devices()[:1]
    sentences, _ = tw.corpus_sentences(config.data)
    vocab = tw.build_vocabulary(config.data, sentences)
    encoded = [vocab.encode(s) for s in sentences]
    full = loop.train(config, tmp_path / "full", tw.build_task(config, vocab, encoded), devices=one)
    task = tw.build_task(config, vocab, encoded)
    crashing = dataclasses.replace(
        task, train_iterator=lambda i, n: CrashAt(task.train_iterator(i, n), 11)
    )
    with pytest.raises(Crash):
        loop.train(config, tmp_path / "part", crashing, devices=one)
    assert max(_losses(tmp_path / "part")) == 9
    resumed = loop.train(
        config, tmp_path / "part", tw.build_task(config, vocab, encoded), devices=one
    )
    assert resumed.step == 12
    assert _losses(tmp_path / "part") == _losses(tmp_path / "full")
    for key in ("embedding", "output"):
        np.testing.assert_array_equal(
            jax.device_get(resumed.state.params[key]), jax.device_get(full.state.params[key])
        )


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
        tw.train_vectors(_config(**overrides), tmp_path)
