"""The word2vec / FastText task: the negative table's exponent by hand, FastText's vectors by hand
(seen and unseen words), epoch counts as the iterator makes them, resume == the uninterrupted run."""

import dataclasses

import jax
import numpy as np
import pytest

from experiments.configs.embeddings import fasttext, word2vec
from research.embeddings import subword_ngrams
from research.embeddings.vocabulary import Vocabulary
from research.embeddings.word2vec_sampling import unigram_table
from research.models.fasttext import unseen_bucket_vector
from research.tasks.word2vec import (
    Corpus,
    build_task,
    epoch_examples,
    export_vectors,
    load_corpus,
    subword_table,
)
from research.train import loop
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.research.train.toy_task import Crash, CrashAt


def _config(module=word2vec, **overrides):
    return with_overrides(module.get_config("smoke"), **overrides)


def _corpus(vocab, encoded) -> Corpus:
    return Corpus([list(vocab.words)], None, vocab, encoded)


def test_negatives_follow_counts_to_the_three_quarters_without_gensim():
    """Counts [1, 16, 81]: P = counts**0.75 / sum = [1, 8, 27] / 36 (exponent 1 would give
    [1, 16, 81] / 98), for the table's default and for the experiment config's ns_exponent."""
    counts = np.array([1, 16, 81])
    want = np.array([1, 8, 27]) / 36
    for table in (
        unigram_table(counts),
        unigram_table(counts, word2vec.get_config().data.ns_exponent),
    ):
        np.testing.assert_allclose(np.diff(table, prepend=0.0), want, rtol=1e-6)


def test_epoch_examples_are_what_the_iterator_trains_on():
    """The schedule's epoch count: the same examples as the task's iterator, whatever the batch."""
    config = _config(**{"data.batch_size": 512})
    corpus = load_corpus(config.data)
    examples = epoch_examples(config, corpus)
    iterator = build_task(config, corpus).train_iterator(0, 1)
    assert iterator.num_examples(0) == len(examples["targets"]) > 512
    np.testing.assert_array_equal(iterator.examples(0)["targets"], examples["targets"])


def test_fasttext_vectors_by_hand_and_unseen_words():
    """In-vocabulary: mean of the word row and its n-gram rows (gensim's adjust_vectors);
    out-of-vocabulary: mean of its n-gram buckets' vectors, from the bucket ids gensim would use:
    a trained row where the vocabulary uses the bucket, else the bucket's untrained initial value."""
    config = _config(fasttext, **{"model.num_buckets": 50, "model.embed_dim": 4})
    vocab = Vocabulary(("where", "here"), np.array([3, 2]))
    model = build_task(config, _corpus(vocab, [np.array([0, 1, 0])])).model
    _, _, used = subword_table(config, vocab)
    assert len(used) < 50 and model.config.ngram_rows == model.config.vocab_size == 128  # padded
    rng = np.random.default_rng(0)
    params = {
        "embedding": rng.normal(size=(128, 4)).astype(np.float32),
        "ngrams": rng.normal(size=(128, 4)).astype(np.float32),
        "output": np.zeros((128, 4), np.float32),
    }
    vectors = export_vectors(config, model, params, vocab)

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
    corpus = load_corpus(config.data)
    full = loop.train(config, tmp_path / "full", build_task(config, corpus), devices=one)
    task = build_task(config, corpus)
    crashing = dataclasses.replace(
        task, train_iterator=lambda i, n: CrashAt(task.train_iterator(i, n), 11)
    )
    with pytest.raises(Crash):
        loop.train(config, tmp_path / "part", crashing, devices=one)
    assert max(_losses(tmp_path / "part")) == 9
    resumed = loop.train(config, tmp_path / "part", build_task(config, corpus), devices=one)
    assert resumed.step == 12
    assert _losses(tmp_path / "part") == _losses(tmp_path / "full")
    for key in ("embedding", "output"):
        np.testing.assert_array_equal(
            jax.device_get(resumed.state.params[key]), jax.device_get(full.state.params[key])
        )
