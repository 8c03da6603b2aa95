"""word2vec model: init as word2vec.c, logits and the SGD update by hand (golden sharding axes: contract_test.py)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.embeddings.negative_sampling import negative_sampling_loss
from research.models.word2vec import make


def _init(model, cbow=False):
    inputs = jnp.zeros((1, 4) if cbow else (1,), jnp.int32)
    mask = jnp.ones((1, 4)) if cbow else None
    return model.init(
        jax.random.key(0), inputs, jnp.zeros(1, jnp.int32), jnp.zeros((1, 2), int), mask
    )


def test_init_is_word2vec_cs():
    """Input table uniform on [-0.5/D, 0.5/D) (word2vec.c), output table zeros."""
    params = nn.unbox(_init(make("tiny")))["params"]
    emb, out = np.asarray(params["embedding"]), np.asarray(params["output"])
    assert emb.shape == out.shape == (128, 16)
    assert -0.5 / 16 <= emb.min() < -0.45 / 16 and 0.45 / 16 < emb.max() < 0.5 / 16
    assert np.all(out == 0)


def _hand_params():
    emb = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, -1.0]])
    out = jnp.array([[0.5, 0.5], [1.0, -1.0], [0.0, 1.0], [2.0, 0.0]])
    return {"embedding": emb, "output": out}


def test_skipgram_logits_by_hand():
    model = make("tiny", vocab_size=4, embed_dim=2)
    pos, neg = model.apply(
        {"params": _hand_params()},
        jnp.array([1, 3]),
        jnp.array([0, 2]),
        jnp.array([[3, 1], [0, 0]]),
    )
    # h = emb[1] = (0, 2): out[0].h = 1, out[3].h = 0, out[1].h = -2; h = (3, -1): out[2].h = -1.
    np.testing.assert_allclose(pos, [1.0, -1.0])
    np.testing.assert_allclose(neg, [[0.0, -2.0], [1.0, 1.0]])


def test_several_targets_per_input_by_hand():
    """Skip-gram windows: targets [B, C] and negatives [B, C, K] score against one h per input."""
    model = make("tiny", vocab_size=4, embed_dim=2)
    pos, neg = model.apply(
        {"params": _hand_params()}, jnp.array([1]), jnp.array([[0, 2]]), jnp.array([[[3], [1]]])
    )
    np.testing.assert_allclose(pos, [[1.0, 2.0]])  # h = (0, 2): out[0].h = 1, out[2].h = 2
    np.testing.assert_allclose(neg, [[[0.0], [-2.0]]])


def test_cbow_averages_the_masked_context():
    model = make("tiny", vocab_size=4, embed_dim=2, architecture="cbow")
    h = model.apply(
        {"params": _hand_params()},
        jnp.array([[0, 1, 3]]),
        jnp.array([[1.0, 1.0, 0.0]]),
        method="hidden",
    )
    np.testing.assert_allclose(h, [[0.5, 1.0]])  # mean of (1, 0) and (0, 2); word 3 is padding


def test_one_sgd_step_is_word2vec_cs_update():
    """Output rows start at zero, so the first update moves only output rows: the target by
    alpha * (1 - sigmoid(0)) * h and each negative by -alpha * sigmoid(0) * h (word2vec.c)."""
    model = make("tiny", vocab_size=4, embed_dim=2)
    params = {**_hand_params(), "output": jnp.zeros((4, 2))}

    def loss(p):
        pos, neg = model.apply({"params": p}, jnp.array([1]), jnp.array([0]), jnp.array([[3, 2]]))
        return negative_sampling_loss(pos, neg, jnp.ones((1, 2))).sum()

    grads = jax.grad(loss)(params)
    alpha, h = 0.025, np.array([0.0, 2.0])
    new_out = params["output"] - alpha * grads["output"]
    np.testing.assert_allclose(new_out[0], alpha * 0.5 * h, rtol=1e-6)
    np.testing.assert_allclose(new_out[3], -alpha * 0.5 * h, rtol=1e-6)
    np.testing.assert_allclose(new_out[2], -alpha * 0.5 * h, rtol=1e-6)
    np.testing.assert_array_equal(grads["embedding"], 0.0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(vocab_size=0), "word2vec vocab_size=0 must be >= 1"),
        (dict(embed_dim=0), "word2vec embed_dim=0 must be >= 1"),
        (dict(architecture="glove"), "architecture='glove' is not known"),
    ],
)
def test_bad_sizes_are_refused_in_one_sentence(overrides, message):
    with pytest.raises(ValueError, match=message):
        _init(make("tiny", **overrides))


def test_wrong_input_rank_is_refused():
    with pytest.raises(ValueError, match="skipgram inputs must be \\[B\\] center ids"):
        make("tiny").init(
            jax.random.key(0), jnp.zeros((1, 3), int), jnp.zeros(1, int), jnp.zeros((1, 2), int)
        )


def test_make_refuses_unknown_names():
    with pytest.raises(ValueError, match="Unknown word2vec variant 'huge'"):
        make("huge")
    with pytest.raises(ValueError, match=r"Unknown word2vec Config field\(s\) \['dim'\]"):
        make(dim=3)
