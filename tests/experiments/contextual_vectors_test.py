"""Contextual against static vectors: the similarity statistics and word spans by hand, and the
smoke run end to end (files, a reused pre-training trains nothing and gives the same table)."""

import json

import numpy as np
import pytest

from experiments import contextual_vectors as cv
from experiments.configs.bert import contextual
from tests.config_overrides import with_overrides


def test_similarity_stats_by_hand():
    vectors = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [0.0, -1.0]])
    senses = np.array(["a", "a", "b", "b"])
    static = np.array([3.0, 0.0])
    stats = cv.similarity_stats(vectors, senses, static)
    h = 1 / np.sqrt(2)
    assert stats["same_sense"] == pytest.approx((h + -1.0) / 2)  # (0,1): h; (2,3): -1
    assert stats["cross_sense"] == pytest.approx((0 + 0 + h - h) / 4)
    assert stats["to_static"] == pytest.approx((1 + h + 0 + 0) / 4)


class _WordTokenizer:
    """Whitespace 'pieces': a word of more than 4 letters is two pieces."""

    def encode(self, text):
        ids = []
        for word in text.split():
            ids += [len(word)] if len(word) <= 4 else [len(word), 100]
        return np.asarray(ids, np.int32)


def test_word_span_by_hand():
    ids, start, n = cv.word_span(_WordTokenizer(), "a set is here.", "set")
    np.testing.assert_array_equal(ids, [1, 3, 2, 5, 100])
    assert (start, n) == (1, 1)
    _, start, n = cv.word_span(_WordTokenizer(), "we raise it.", "raise")
    assert (start, n) == (1, 2)
    with pytest.raises(ValueError, match="'key' is not a whole word"):
        cv.word_span(_WordTokenizer(), "the keyboard.", "key")


def test_every_sentence_holds_its_word_once_as_a_whole_word():
    for word, senses in cv.SENTENCES.items():
        assert len(senses) == 2
        for _, sentences in senses:
            for sentence in sentences:
                assert [w.strip(".,") for w in sentence.split()].count(word) == 1, sentence


def test_unknown_word_is_refused_before_any_work(tmp_path):
    config = with_overrides(contextual.get_config("smoke"), words="set,bank")
    with pytest.raises(ValueError, match=r"names \['bank'\]; choose from"):
        cv.main(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    config = contextual.get_config("smoke")
    workdir = tmp_path_factory.mktemp("contextual")
    return config, workdir, cv.main(config, workdir)


def test_smoke_run_writes_the_table(smoke):
    config, workdir, results = smoke
    assert [row["word"] for row in results["words"]] == ["set", "raise"]
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "bert_contextual.png").stat().st_size > 0
    table = (workdir / "results.md").read_text()
    assert table.count("\n") == 2 + len(config.words.split(","))
    assert results["pretrain_steps"] == 20
    for row in results["words"]:
        for name in ("trained", "untrained"):
            stats = row[name]
            # Contextual vectors differ between occurrences: below the static vector's 1.
            assert -1 <= stats["cross_sense"] < 0.9999 and -1 <= stats["same_sense"] < 0.9999
            assert -1 <= stats["to_static"] <= 1


def test_reusing_a_pretrained_workdir_trains_nothing(smoke, tmp_path):
    config, workdir, results = smoke
    before = sorted(p.name for p in (workdir / "pretrain" / "checkpoints").iterdir())
    reused = with_overrides(contextual.get_config("smoke"), mlm_workdir=str(workdir))
    assert cv.main(reused, tmp_path / "reuse") == results
    assert sorted(p.name for p in (workdir / "pretrain" / "checkpoints").iterdir()) == before
    assert (tmp_path / "reuse" / "results.md").exists()
    assert not (tmp_path / "reuse" / "pretrain").exists()
