"""The text-classification experiment: its scoring functions by hand and against scikit-learn, and
the smoke run end to end (files, loop evaluation == the experiment's own scoring, resume)."""

import json
import pathlib
import shutil
import types

import flax.linen as nn
import jax
import numpy as np
import pytest
import scipy.sparse
from sklearn.metrics import f1_score

from experiments import text_classification as tc
from experiments.configs.text import classification
from experiments.stages import StagePreempted
from research import models
from research.embeddings.word_vectors import WordVectors
from research.tasks import word_vectors
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.experiments.preemption import preempt_stage


def test_macro_f1_by_hand_and_against_scikit_learn():
    # class 0: TP 1, FN 1 -> 2/3; class 1: TP 1, FP 2, FN 1 -> 2/5; class 2: TP 0, FN 1 -> 0;
    # class 3 only predicted (FP 1) -> 0. A micro average or a mean over true classes only differs.
    labels, predictions = [0, 0, 1, 2, 1], [0, 1, 1, 1, 3]
    assert tc.macro_f1(labels, predictions) == pytest.approx((2 / 3 + 2 / 5 + 0 + 0) / 4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels, predictions = rng.integers(0, 6, 50), rng.integers(0, 7, 50)
        want = f1_score(labels, predictions, average="macro", zero_division=0)
        assert tc.macro_f1(labels, predictions) == pytest.approx(want, abs=1e-12)


def test_weight_share_by_hand():
    features = scipy.sparse.csr_matrix(np.array([[2.0, 1, 0], [0, 0, 0], [1, -1, 2]]))
    # row 0: 2/3, row 2: |1| / (1 + 1 + 2); the empty row 1 is left out of the mean
    assert tc.weight_share(features, np.array([0])) == pytest.approx((2 / 3 + 1 / 4) / 2)
    assert tc.weight_share(features.toarray(), np.array([0, 1, 2])) == 1.0


def test_class_top_terms_and_common_words_by_hand():
    features = scipy.sparse.csr_matrix(np.array([[3.0, 0, 1], [1, 0, 1], [0, 2, 1]]))
    vocabulary = np.array(["x", "y", "z"])
    # class 0 means: x 2, y 0, z 1; class 1: y 2, z 1, x 0
    assert tc.class_top_terms(features, [0, 0, 1], vocabulary, 2, 2) == [["x", "z"], ["y", "z"]]
    config = classification.get_config("smoke")
    texts = ["the cat the dog", "a dog the end", "cat cat dog"]
    # totals: the 3, cat 3, dog 3, end 1 ('a' is one letter: not a token); ties go by word
    assert tc.common_words(texts, with_overrides(config, **{"features.min_df": 1}), k=3) == [
        "cat",
        "dog",
        "the",
    ]


def test_mean_vectors_by_hand():
    # 'the' has no vector and is skipped; 'b' is one letter (not a token); the empty text is 0.
    vectors = WordVectors(["cat", "dog"], np.array([[1.0, 0.0], [0.0, 3.0]]))
    got = tc.mean_vectors(vectors, ["Cat dog the", "the b", "DOG dog"])
    np.testing.assert_array_equal(got, [[0.5, 1.5], [0.0, 0.0], [0.0, 3.0]])
    # With an oov_vector (FastText) every word counts.
    subword = WordVectors(vectors.words, vectors.vectors, oov_vector=lambda w: np.ones(2))
    np.testing.assert_array_equal(tc.mean_vectors(subword, ["cat the"]), [[1.0, 0.5]])


def test_embedding_rows_take_vectors_from_the_comparison_runs_when_given(tmp_path, monkeypatch):
    calls = []
    vectors = WordVectors(["cat"], np.array([[2.0, 4.0]]))

    def prepare(section, workdir, *, corpus, epochs, batch_pairs):
        calls.append((section.model_name, corpus, epochs, workdir))
        return word_vectors.VectorRun(section, None, lambda params: vectors, 1, {})

    def run(name, config, workdir, task):
        calls.append((name, workdir))
        return types.SimpleNamespace(params=None)

    monkeypatch.setattr(tc.word_vectors, "prepare", prepare)
    monkeypatch.setattr(tc.stages, "run", run)
    config = classification.get_config("smoke")
    data = {s: (["cat", "dog"], np.array([0, 1])) for s in tc.SPLITS}
    features = tc.embed("glove_mean", config, tmp_path, data)
    np.testing.assert_array_equal(features["test"], [[2.0, 4.0], [0.0, 0.0]])
    config.features.embeddings_dir = "/runs/compare/runs"
    tc.embed("fasttext_mean", config, tmp_path, data)
    runs = pathlib.Path("/runs/compare/runs")
    assert calls == [
        ("glove", "stdlib_docstrings", 0.02, tmp_path / "glove_mean_vectors"),
        ("glove_mean_vectors", tmp_path),
        ("fasttext", "stdlib_docstrings", 0.02, runs / "stdlib_docstrings_fasttext"),
        ("stdlib_docstrings_fasttext", runs),
    ]


def test_embedding_sections_share_the_data_dir():
    config = classification.get_config()
    config.data.data_dir = "/data"
    for method in tc.EMBEDDINGS.values():
        assert config.embeddings[method].data.data_dir == "/data"


def test_unknown_representation_is_refused_before_any_work(tmp_path):
    config = with_overrides(
        classification.get_config("smoke"), **{"features.representations": "tfidf,bow"}
    )
    with pytest.raises(ValueError, match=r"names \['bow'\]; give a comma-separated list"):
        tc.main(config, tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    config = classification.get_config("smoke")
    config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
    workdir = tmp_path_factory.mktemp("text_classification")
    return config, workdir, tc.main(config, workdir)


def test_smoke_run_writes_one_row_per_representation(smoke):
    config, workdir, results = smoke
    assert json.loads((workdir / "results.json").read_text()) == results
    names = config.features.representations.split(",")
    assert [row["representation"] for row in results["rows"]] == names
    assert len(results["classes"]) == config.model.num_classes == 4
    table = (workdir / "results.md").read_text()
    for row in results["rows"]:
        assert row["steps"] == config.num_train_steps
        assert f"| {row['representation']} | {row['features']} | {row['test_accuracy']:.3f} |" in (
            table
        )
        assert 0 <= row["test_macro_f1"] <= 1 and 0 < row["test_accuracy"] <= 1
        if row["representation"] in tc.EMBEDDINGS:  # features: the embedding's dimensions
            embed_dim = config.embeddings.word2vec.model.embed_dim  # 8, as fasttext's and glove's
            assert row["features"] == embed_dim and row["common_word_share"] is None
            assert f"| {row['test_macro_f1']:.3f} | {row['validation_accuracy']:.3f} | - |" in table
        else:
            assert row["features"] == config.features.max_features
            assert row["test_accuracy"] > 0.4  # chance ~0.25
    assert (workdir / "text_classification.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The point of the table: idf takes weight off the common words ('the', 'is', ...).
    share = {row["representation"]: row["common_word_share"] for row in results["rows"]}
    assert share["tfidf"] < share["tf_l2"] and share["tfidf"] < share["counts"]
    assert results["common_words"][0] == "the"


def test_experiment_scores_match_the_loops_evaluation(smoke):
    # The loop evaluates the validation split with its own batching and padding; the experiment
    # scores the final parameters itself. Disagreement means misaligned labels or features.
    config, workdir, results = smoke
    for row in results["rows"]:
        records = read_metrics(workdir / row["representation"] / "metrics.jsonl")
        last_eval = [r for r in records if "eval/accuracy" in r][-1]
        assert last_eval["step"] == config.num_train_steps
        assert row["validation_accuracy"] == pytest.approx(last_eval["eval/accuracy"], abs=1e-6)
        assert (workdir / row["representation"] / "checkpoints" / "20").is_dir()


def test_linear_classifier_has_one_kernel_and_top_terms_come_from_it(smoke):
    config, _, results = smoke
    model = models.load(config.model_name).make(**config.model.to_dict())
    x = np.random.default_rng(0).normal(size=(3, 7)).astype(np.float32)
    params = nn.unbox(model.init(jax.random.key(0), x)["params"])
    assert set(params) == {"out"}  # num_layers=0: logits = x W + b, nothing else
    want = x @ np.asarray(params["out"]["kernel"]) + np.asarray(params["out"]["bias"])
    np.testing.assert_allclose(model.apply({"params": params}, x), want, rtol=1e-5, atol=1e-6)
    for name in config.features.representations.split(","):
        if name in tc.EMBEDDINGS:
            assert results["details"][name] == {}  # dimensions have no terms to name
            continue
        tops = results["details"][name]["classifier_top_terms"]
        assert len(tops) == 4 and all(len(t) == tc.NUM_TOP_TERMS for t in tops)


def test_rerun_on_the_same_workdir_resumes_without_training(smoke):
    config, workdir, results = smoke
    before = {
        r["representation"]: (workdir / r["representation"] / "metrics.jsonl").read_text()
        for r in results["rows"]
    }
    again = tc.main(config, workdir)
    assert again["rows"] == results["rows"]
    for name, text in before.items():
        assert (workdir / name / "metrics.jsonl").read_text() == text


# The smoke run's stages in training order: each *_mean row trains its vectors, then its classifier.
STAGES = ["counts", "binary", "tfidf", "tfidf_sublinear", "tf_l2"] + [
    stage for m in ("word2vec", "fasttext", "glove") for stage in (f"{m}_mean_vectors", f"{m}_mean")
]


# One of each kind (first, an embedding's vectors, its classifier, the last): ~4 s each, all 11 ~50 s.
@pytest.mark.parametrize(
    "stage", ["counts", "word2vec_mean_vectors", "word2vec_mean", "glove_mean"]
)
def test_a_preempted_stage_stops_the_experiment(smoke, tmp_path, monkeypatch, stage):
    """Bug caught: a stage preempted and the next one trained anyway (or results written as if
    complete). Earlier stages are restored from the finished smoke run (each a loop.train call)."""
    config, finished, _ = smoke
    k = STAGES.index(stage)
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    for stage in STAGES[k:]:
        shutil.rmtree(workdir / stage)
    (workdir / "results.json").unlink()
    preempt_stage(monkeypatch, k + 1)
    with pytest.raises(StagePreempted, match=f"'{STAGES[k]}'"):
        tc.main(config, workdir)
    assert not any((workdir / stage).exists() for stage in STAGES[k + 1 :])
    assert not (workdir / "results.json").exists()
