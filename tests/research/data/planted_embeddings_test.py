import collections

import pytest

from research.data import planted_embeddings
from research.data.planted_embeddings import planted_corpus
from research.embeddings.evaluation import analogy_accuracy, cluster_accuracy
from research.embeddings.word_vectors import WordVectors
from tests.reference_packages import import_reference

# Measured: gensim skip-gram, 16 dims, 5 epochs on the default corpus gives cluster accuracy
# 1.000, analogy accuracy 0.994 (3CosAdd) and 0.995 (3CosMul). The floors leave room for
# gensim versions and platforms.
ANALOGY_FLOOR = 0.9


def test_shapes_and_determinism():
    corpus = planted_corpus(num_clusters=3, words_per_cluster=4, num_sentences=50, seed=1)
    assert len(corpus.sentences) == 50
    assert all(len(s) == 12 for s in corpus.sentences)
    assert corpus.cluster_of == {f"c{k}_r{j}": k for k in range(3) for j in range(4)}
    assert corpus == planted_corpus(num_clusters=3, words_per_cluster=4, num_sentences=50, seed=1)
    assert corpus.sentences != planted_corpus(3, 4, 50, seed=2).sentences


def test_analogies_are_cluster_role_parallelograms():
    # 3 clusters x 2 other clusters x 4 roles x 3 other roles questions, all kept.
    corpus = planted_corpus(num_clusters=3, words_per_cluster=4, num_sentences=10)
    assert len(corpus.analogies) == 3 * 2 * 4 * 3 == len(set(corpus.analogies))
    for a, b, c, d in corpus.analogies:
        ka, ra = a[1:].split("_r")
        kb, rb = b[1:].split("_r")
        kc, rc = c[1:].split("_r")
        assert d == f"c{kc}_r{rb}" and ka == kb != kc and ra == rc != rb
    assert len(planted_corpus(num_sentences=10, max_analogies=7).analogies) == 7


def test_every_sentence_holds_one_cluster_and_one_role():
    # The planted structure the embeddings must recover: catches mixed-up draws per position.
    corpus = planted_corpus(num_sentences=200, noise=0.0)
    for sentence in corpus.sentences:
        topics = {w[1:].split("_")[0] for w in sentence if w.startswith("t")}
        own = {w[1:].split("_r")[0] for w in sentence if w.startswith("c")}
        roles = {w[1:].split("_")[0] for w in sentence if w.startswith("g")}
        assert len(topics | own) <= 1 and len(roles) <= 1


def test_noise_replaces_the_given_share_of_words_and_nothing_else():
    # The noise draw comes last: positions it spares hold exactly the noiseless corpus's words,
    # and the share it replaces is near `noise` (a word may be redrawn as itself, 1 in 202).
    clean = planted_corpus(num_sentences=2000, noise=0.0).sentences
    noisy = planted_corpus(num_sentences=2000, noise=0.2).sentences
    pairs = zip(clean, noisy, strict=True)
    changed = sum(a != b for x, y in pairs for a, b in zip(x, y, strict=True)) / (2000 * 12)
    assert 0.18 < changed < 0.21
    with pytest.raises(ValueError, match="noise=1.0 must be in"):
        planted_corpus(noise=1.0)


def test_default_corpus_word_frequencies():
    counts = collections.Counter(w for s in planted_corpus().sentences for w in s)
    planted = [counts[w] for w in planted_corpus(num_sentences=1).cluster_of]
    # 20,000 x 12 tokens; each planted word gets 0.95 x (0.15 / 96 + 0.15 / 96) + 0.05 / 202 of
    # them: about 772.
    assert min(planted) > 650 and max(planted) < 900
    assert len(counts) == 96 + 8 * planted_embeddings.TOPIC_WORDS + 12 * 4 + 10


@pytest.mark.parametrize("name", ["num_clusters", "words_per_cluster", "sentence_length"])
def test_bad_sizes_are_refused(name):
    with pytest.raises(ValueError, match=f"{name}=1 must be at least 2"):
        planted_corpus(**{name: 1})


def test_gensim_word2vec_recovers_the_planted_structure():
    # Validates the corpus design: a standard distributional method finds the clusters and the
    # analogies. workers=1 and a fixed seed make gensim deterministic.
    gensim = import_reference("gensim")
    corpus = planted_corpus()
    model = gensim.models.Word2Vec(
        corpus.sentences,
        vector_size=16,
        window=5,
        min_count=5,
        sg=1,
        negative=5,
        epochs=5,
        workers=1,
        seed=0,
    )
    vectors = WordVectors(model.wv.index_to_key, model.wv.vectors)
    assert cluster_accuracy(vectors, corpus.cluster_of) >= 0.9
    add = analogy_accuracy(vectors, corpus.analogies, "add")
    mul = analogy_accuracy(vectors, corpus.analogies, "mul")
    print(f"gensim skip-gram on the planted corpus: analogy add {add:.3f}, mul {mul:.3f}")
    assert add >= ANALOGY_FLOOR and mul >= ANALOGY_FLOOR
