"""The gensim comparison in smoke mode: every method's row on both corpora, the speed ratios, the
files; the derived corpus checks on hand examples."""

import json

import ml_collections
import pytest

from experiments import embeddings_compare
from experiments.configs.embeddings import compare as compare_config
from tests.reference_packages import import_reference


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    import_reference("gensim")
    workdir = tmp_path_factory.mktemp("embeddings_compare")
    return workdir, embeddings_compare.main(compare_config.get_config("smoke"), workdir)


def test_smoke_run_compares_every_method_on_both_corpora(smoke):
    workdir, results = smoke
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "embeddings_compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (workdir / "results.md").read_text()
    methods = list(embeddings_compare.METHODS)
    assert results["methods"] == methods
    for corpus in embeddings_compare.CORPORA:
        assert sorted(results["rows"][corpus]) == sorted(methods)
    real, planted = results["rows"]["stdlib_docstrings"], results["rows"]["planted"]
    for method in methods:
        assert f"| {method} | {real[method]['vocabulary_size']} |" in table
        # Same corpus and min_count: every method keeps the same vocabulary.
        assert real[method]["vocabulary_size"] == real["gensim_word2vec"]["vocabulary_size"]
        assert 0 <= real[method]["package_cluster_accuracy"] <= 1
        assert 0 <= planted[method]["cluster_accuracy"] <= 1
        assert real[method]["words_per_second"] == pytest.approx(
            results["corpus_words"] * real[method]["epochs"] / real[method]["train_seconds"]
        )
    for ours, peer in embeddings_compare.PEER.items():
        expected = real[ours]["words_per_second"] / real[peer]["words_per_second"]
        assert real[ours]["speed_ratio"] == pytest.approx(expected)
    # Ours trained the fraction of an epoch the smoke config asks for (to within one call of two
    # batches).
    assert real["word2vec"]["epochs"] == pytest.approx(0.02, abs=0.005)
    assert real["gensim_word2vec"]["epochs"] == 1
    # The runs are kept, each with its vectors in word2vec format.
    for method in ("word2vec", "fasttext", "glove"):
        assert (workdir / "runs" / f"planted_{method}" / "vectors.txt").exists()


def test_a_workdir_with_runs_is_refused(smoke):
    workdir, _ = smoke
    with pytest.raises(ValueError, match="already holds training runs"):
        embeddings_compare.main(compare_config.get_config("smoke"), workdir)


def test_unknown_methods_are_refused(tmp_path):
    config = compare_config.get_config("smoke")
    config.methods = "word2vec,gensim_glove"
    with pytest.raises(ValueError, match=r"names \['gensim_glove'\]; use a comma list"):
        embeddings_compare.main(config, tmp_path)


def test_unknown_corpora_are_refused(tmp_path):
    config = compare_config.get_config("smoke")
    config.corpora = "planted,wikipedia"
    with pytest.raises(ValueError, match="must be a comma list of stdlib_docstrings, planted"):
        embeddings_compare.main(config, tmp_path)


def checks(**overrides):
    base = dict(
        package_min_count=2, package_purity=0.75, package_words=2, package_min_words=2,
        profile_skip=0, profile_words=3, num_pairs=3, seed=0,
    )  # fmt: skip
    return ml_collections.ConfigDict({**base, **overrides})


SENTENCES = [["json", "dumps", "the"], ["json", "dumps", "loads", "the"], ["loads", "json"],
             ["socket", "send", "the"], ["socket", "send"], ["the", "socket"]]  # fmt: skip
PACKAGES = ["json", "json", "json", "socket", "socket", "socket"]


def test_package_clusters_hand_example():
    # 'the' is spread over both packages (share 0.5); json, dumps and loads are all json's, but
    # package_words=2 keeps json (3) and dumps (2, before loads by name); send, socket: socket's.
    labels = embeddings_compare.package_clusters(SENTENCES, PACKAGES, checks())
    assert labels == {"json": 0, "dumps": 0, "socket": 1, "send": 1}
    # A package with fewer distinctive words than package_min_words is left out.
    assert embeddings_compare.package_clusters(SENTENCES, PACKAGES, checks(package_words=3,
        package_min_words=3)) == {"json": 0, "dumps": 0, "loads": 0}  # fmt: skip


def test_package_profile_pairs_hand_example():
    # The 3 most frequent: the (4), json (3), socket (3, after json by name); their counts over
    # the packages (json, socket): the (2, 2), json (3, 0), socket (0, 3).
    pairs = embeddings_compare.package_profile_pairs(SENTENCES, PACKAGES, checks())
    scores = {(a, b): s for a, b, s in pairs}
    assert set(scores) == {("the", "json"), ("the", "socket"), ("json", "socket")}
    assert scores[("the", "json")] == pytest.approx(2**-0.5)
    assert scores[("json", "socket")] == 0.0


def test_sections_are_the_experiments_configs_with_one_data_dir():
    """Every run's key is a --config.<method>.<key> flag; data_dir is one value for all (a copy
    per section would let the runs and the corpus checks read different data)."""
    config = compare_config.get_config()
    config.data_dir = "/data"
    for method in ("word2vec", "fasttext", "glove"):
        assert config[method].model_name == method and config[method].data.data_dir == "/data"
    assert config.glove.loss.x_max == 100.0 and config.word2vec.data.ns_exponent == 0.75
