"""FastText model: a word's input is the mean of its row and its n-gram rows (by hand), OOV words
get the mean of their n-gram rows (golden sharding axes: contract_test.py)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models.fasttext import make


def _init(model):
    return model.init(
        jax.random.key(0),
        jnp.zeros((1,), jnp.int32),
        jnp.zeros((1, 3), jnp.int32),
        jnp.ones((1, 3)),
        jnp.zeros(1, jnp.int32),
        jnp.zeros((1, 2), jnp.int32),
    )


def _hand_params():
    return {
        "embedding": jnp.array([[1.0, 0.0], [0.0, 3.0]]),
        "ngrams": jnp.array([[2.0, 2.0], [0.0, -3.0], [4.0, 1.0]]),
        "output": jnp.array([[1.0, 0.0], [0.0, 1.0]]),
    }


def test_word_input_is_the_mean_of_word_and_ngram_rows():
    """Catches a sum instead of a mean, or padded n-gram slots that count."""
    model = make("tiny", vocab_size=2, embed_dim=2, num_buckets=3)
    buckets = jnp.array([[0, 2, 0], [1, 0, 0]])
    mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    vectors = model.apply({"params": _hand_params()}, buckets, mask, method="word_vectors")
    # word 0: mean((1,0), (2,2), (4,1)) = (7/3, 1); word 1: mean((0,3), (0,-3)) = (0, 0).
    np.testing.assert_allclose(vectors, [[7 / 3, 1.0], [0.0, 0.0]], rtol=1e-6)
    pos, neg = model.apply(
        {"params": _hand_params()},
        jnp.array([0]),
        buckets[:1],
        mask[:1],
        jnp.array([1]),
        jnp.array([[0]]),
    )
    np.testing.assert_allclose(pos, [1.0], rtol=1e-6)  # output[1] . (7/3, 1)
    np.testing.assert_allclose(neg, [[7 / 3]], rtol=1e-6)


def test_ngram_vector_of_an_unseen_word():
    model = make("tiny", vocab_size=2, embed_dim=2, num_buckets=3)
    p = {"params": _hand_params()}
    out = model.apply(p, jnp.array([0, 2, 2]), method="ngram_vector")
    np.testing.assert_allclose(out, [10 / 3, 4 / 3], rtol=1e-6)
    np.testing.assert_array_equal(
        model.apply(p, jnp.zeros(0, jnp.int32), method="ngram_vector"), [0.0, 0.0]
    )


def test_init_tables():
    params = nn.unbox(_init(make("tiny")))["params"]
    assert params["ngrams"].shape == (1000, 16) and params["embedding"].shape == (128, 16)
    assert np.abs(params["ngrams"]).max() <= 0.5 / 16 and np.all(params["output"] == 0)
    compact = nn.unbox(_init(make("tiny", ngram_rows=7)))["params"]
    assert compact["ngrams"].shape == (7, 16)  # only the buckets a vocabulary uses get rows


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_buckets=0), "fasttext num_buckets=0 must be >= 1"),
        (dict(embed_dim=0), "fasttext embed_dim=0 must be >= 1"),
        (dict(min_n=4, max_n=3), "fasttext max_n=3 must be >= min_n=4"),
    ],
)
def test_bad_sizes_are_refused_in_one_sentence(overrides, message):
    with pytest.raises(ValueError, match=message):
        _init(make("tiny", **overrides))


def test_make_refuses_unknown_names():
    with pytest.raises(ValueError, match="Unknown fasttext variant 'huge'"):
        make("huge")
