import numpy as np
import pytest

from research.embeddings.word_vectors import WordVectors
from tests.reference_packages import import_reference


def random_vectors(num_words=300, dim=16, seed=0) -> WordVectors:
    rng = np.random.default_rng(seed)
    return WordVectors([f"w{i}" for i in range(num_words)], rng.normal(size=(num_words, dim)))


def gensim_copy(vectors: WordVectors):
    gensim = import_reference("gensim")
    kv = gensim.models.KeyedVectors(vectors.dim)
    kv.add_vectors(list(vectors.words), vectors.vectors)
    return kv


QUERIES = [
    (["w3"], []),
    (["w1", "w2"], ["w0"]),  # the analogy form b + c - a
    (["w5", "w6", "w7"], ["w8", "w9"]),
    ([], ["w4"]),
    ("w10", "w11"),  # single strings, as gensim allows
]


@pytest.mark.parametrize("positive, negative", QUERIES)
def test_most_similar_equals_gensim(positive, negative):
    # Catches an unnormalised mean, query words left in the answer, or a wrong sign on negatives.
    ours = random_vectors()
    theirs = gensim_copy(ours).most_similar(positive=positive, negative=negative, topn=15)
    got = ours.most_similar(positive, negative, topn=15)
    assert [w for w, _ in got] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in theirs], rtol=0, atol=2e-6)


@pytest.mark.filterwarnings("ignore:Call to deprecated `init_sims`")  # inside gensim's cosmul
@pytest.mark.parametrize("positive, negative", [q for q in QUERIES if q[0]])
def test_most_similar_cosmul_equals_gensim(positive, negative):
    ours = random_vectors()
    theirs = gensim_copy(ours).most_similar_cosmul(positive=positive, negative=negative, topn=15)
    got = ours.most_similar_cosmul(positive, negative, topn=15)
    assert [w for w, _ in got] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in theirs], rtol=2e-6, atol=0)


def test_similarity_and_unit_vectors_hand_values():
    vectors = WordVectors(["x", "y", "zero"], np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    assert vectors.similarity("x", "y") == pytest.approx(1 / np.sqrt(2), abs=1e-7)
    assert vectors.similarity("x", "zero") == 0.0  # a zero vector is not nan
    assert vectors.most_similar("x", topn=5) == [
        ("y", pytest.approx(1 / np.sqrt(2))),
        ("zero", 0.0),
    ]
    assert vectors.most_similar("x", topn=0) == []


def test_out_of_vocabulary_query_is_one_sentence_unless_an_oov_vector_answers():
    vectors = random_vectors(num_words=5, dim=3)
    assert "w1" in vectors and "foo" not in vectors
    with pytest.raises(ValueError, match=r"'foo' is not in the vocabulary of 5 words"):
        vectors.vector("foo")
    with pytest.raises(ValueError, match="is not in the vocabulary"):
        vectors.most_similar(["foo"])
    subword = WordVectors(vectors.words, vectors.vectors, oov_vector=lambda w: vectors.vector("w2"))
    np.testing.assert_array_equal(subword.vector("foo"), vectors.vector("w2"))
    # An unseen query word is answered but (not being a row) nothing is left out of the answer.
    assert subword.most_similar("foo", topn=1)[0] == ("w2", pytest.approx(1.0))


def test_constructor_refuses_bad_shapes_and_repeated_words():
    with pytest.raises(ValueError, match=r"expected \[V, D\] with V = 2"):
        WordVectors(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="only 1 distinct"):
        WordVectors(["a", "a"], np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least one"):
        random_vectors().most_similar([], [])


@pytest.mark.parametrize("binary", [False, True])
def test_files_we_write_load_in_gensim_and_back_exactly(tmp_path, binary):
    gensim = import_reference("gensim")
    ours = WordVectors(["héllo", "b", "c_1"], np.random.default_rng(1).normal(size=(3, 5)))
    path = tmp_path / "vectors.bin"
    ours.save_word2vec_format(path, binary=binary)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.bin"]  # atomic: no temp file left
    kv = gensim.models.KeyedVectors.load_word2vec_format(path, binary=binary)
    assert kv.index_to_key == list(ours.words)
    np.testing.assert_array_equal(kv.vectors, ours.vectors)  # %.9g text round-trips float32
    back = WordVectors.load_word2vec_format(path, binary=binary)
    assert back.words == ours.words
    np.testing.assert_array_equal(back.vectors, ours.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_we_load_files_gensim_writes(tmp_path, binary):
    ours = random_vectors(num_words=20, dim=7, seed=3)
    path = tmp_path / "gensim.txt"
    gensim_copy(ours).save_word2vec_format(str(path), binary=binary)  # binary: no row newlines
    back = WordVectors.load_word2vec_format(path, binary=binary)
    assert back.words == ours.words
    np.testing.assert_array_equal(back.vectors, ours.vectors)


@pytest.mark.parametrize(
    "text, message",
    [
        ("3 2\na 1 2\nb 3 4\n", "announces 3 words but 2 rows follow"),
        ("1 2\na 1 2\nb 3 4\n", "announces 1 words but 2 rows follow"),
        ("2 2\na 1 2\nb 3\n", r"row 2 \('b'\) has 1 numbers; the header says 2"),
        ("2 2\na 1 2\nb 3 x\n", r"row 2 \('b'\) holds something that is not a number"),
        ("two 2\na 1 2\n", "is not 'V D'"),
        ("2\na 1 2\n", "is not 'V D'"),
    ],
)
def test_malformed_text_files_are_one_sentence(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        WordVectors.load_word2vec_format(path)


def test_malformed_binary_files_are_one_sentence(tmp_path):
    row = lambda w: w.encode() + b" " + np.ones(2, "<f4").tobytes() + b"\n"  # noqa: E731
    path = tmp_path / "bad.bin"
    path.write_bytes(b"3 2\n" + row("a") + row("b"))
    with pytest.raises(ValueError, match="ends inside row 3 of the 3 words"):
        WordVectors.load_word2vec_format(path, binary=True)
    path.write_bytes(b"1 2\n" + row("a") + row("b"))
    with pytest.raises(ValueError, match="follow the 1 rows the header announces"):
        WordVectors.load_word2vec_format(path, binary=True)
    with pytest.raises(ValueError, match="is not UTF-8 text; for a binary word2vec file"):
        path.write_bytes(b"1 2\na " + b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\n")
        WordVectors.load_word2vec_format(path)


def test_words_the_format_cannot_hold_are_refused(tmp_path):
    vectors = WordVectors(["two words", "b"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="contain whitespace"):
        vectors.save_word2vec_format(tmp_path / "v.txt")
