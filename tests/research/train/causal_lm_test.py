"""Tests for research/train/causal_lm.py: hand-worked logits give exact values, the shift points the
right way (an off-by-one fails), padding and prompt positions count for nothing, completion weights
by hand, bad shapes refused."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.train.causal_lm import causal_lm_loss, completion_weights

LN = math.log


def hand_case():
    """tokens [[0, 0, 2]]; logits at t score tokens[t + 1]:
    t=0 [0, ln 3, 0] -> p = (1/5, 3/5, 1/5), target 0: nll ln 5, argmax 1 (wrong);
    t=1 [ln 2, 0, ln 4] -> p = (2/7, 1/7, 4/7), target 2: nll ln(7/4), argmax 2 (right);
    t=2 predicts nothing: huge logits that would dominate any misaligned loss."""
    logits = jnp.array([[[0.0, LN(3), 0.0], [LN(2), 0.0, LN(4)], [0.0, 0.0, 100.0]]])
    tokens = jnp.array([[0, 0, 2]])
    return logits, tokens


def test_hand_worked_loss_and_accuracy():
    logits, tokens = hand_case()
    loss, metrics = causal_lm_loss(logits, tokens)
    want = LN(5) + LN(7 / 4)
    np.testing.assert_allclose(loss, want / 2, rtol=1e-6)
    np.testing.assert_allclose(metrics["loss"], (want, 2.0), rtol=1e-6)
    np.testing.assert_allclose(metrics["accuracy"], (1.0, 2.0))


def test_off_by_one_alignments_give_other_values():
    """Scoring logits[:, t] against tokens[:, t] (no shift) or logits[:, 1:] against tokens[:, :-1]
    (shift the wrong way) is not what the function returns."""
    logits, tokens = hand_case()
    loss, _ = causal_lm_loss(logits, tokens)
    log_p = jax.nn.log_softmax(logits, axis=-1)[0]
    unshifted = -np.mean([log_p[t, tokens[0, t]] for t in range(3)])
    backwards = -np.mean([log_p[t + 1, tokens[0, t]] for t in range(2)])
    for wrong in (unshifted, backwards):
        assert abs(float(loss) - float(wrong)) > 0.1


def test_a_model_that_predicts_the_next_token_scores_perfectly():
    """Direction of the shift on a longer sequence: one-hot logits of the NEXT token give loss ~0
    and accuracy 1; one-hot logits of the CURRENT token (the off-by-one) give a large loss."""
    tokens = jnp.array([[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]])
    next_tokens = jnp.roll(tokens, -1, axis=1)
    good = 30.0 * jax.nn.one_hot(next_tokens, 10)
    loss, metrics = causal_lm_loss(good, tokens)
    assert float(loss) < 1e-10
    assert metrics["accuracy"][0] == metrics["accuracy"][1] == 14
    bad = 30.0 * jax.nn.one_hot(tokens, 10)
    assert float(causal_lm_loss(bad, tokens)[0]) > 10


def test_padding_positions_count_for_nothing():
    """A right-padded row with weights 0 on the padding gives the unpadded row's loss, whatever
    the logits and tokens at the padding; weights[:, 0] is ignored (no prediction of token 0)."""
    logits, tokens = hand_case()
    rng = np.random.default_rng(0)
    padded_logits = jnp.concatenate([logits, jnp.asarray(rng.normal(size=(1, 3, 3)))], axis=1)
    padded_tokens = jnp.array([[0, 0, 2, 1, 0, 1]])
    weights = jnp.array([[0.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    want = causal_lm_loss(logits, tokens)
    got = causal_lm_loss(padded_logits, padded_tokens, weights)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1]["loss"], want[1]["loss"], rtol=1e-6)
    first_counted = causal_lm_loss(padded_logits, padded_tokens, weights.at[0, 0].set(1.0))
    np.testing.assert_allclose(first_counted[1]["loss"], want[1]["loss"], rtol=1e-6)


def test_completion_weights_by_hand():
    got = completion_weights(jnp.array([2, 1, 3]), jnp.array([4, 5, 3]), 6)
    np.testing.assert_array_equal(got, [[0, 0, 1, 1, 0, 0], [0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]])
    traced = jax.jit(completion_weights, static_argnums=2)(jnp.array([2]), jnp.array([4]), 6)
    np.testing.assert_array_equal(traced, [[0, 0, 1, 1, 0, 0]])


def test_prompt_is_excluded_from_the_loss():
    """Prompt 2 tokens, completion 2 tokens, 2 padding: only the completion's two predictions
    (logits at t = 1, 2 scoring tokens 2, 3) count, by hand."""
    tokens = jnp.array([[7, 8, 1, 2, 0, 0]])
    nine = jnp.zeros(10).at[:2].set(9.0)
    logits = jnp.zeros((1, 6, 10)).at[0, 1, 1].set(LN(3)).at[0, 2].set(nine)
    weights = completion_weights(jnp.array([2]), jnp.array([4]), 6)
    loss, metrics = causal_lm_loss(logits, tokens, weights)
    nll_1 = LN(4)  # logits [0, ln 3, 0 x 8] -> p(1) = 3 / 12, the argmax (right)
    nll_2 = LN(2 * math.exp(9) + 8)  # [9, 9, 0 x 8] -> p(2) = 1 / (2 e^9 + 8), argmax 0 (wrong)
    np.testing.assert_allclose(metrics["loss"], (nll_1 + nll_2, 2.0), rtol=1e-6)
    np.testing.assert_allclose(metrics["accuracy"], (1.0, 2.0))
    np.testing.assert_allclose(loss, (nll_1 + nll_2) / 2, rtol=1e-6)


def test_bad_input_is_refused():
    logits, tokens = hand_case()
    with pytest.raises(ValueError, match="logits must be"):
        causal_lm_loss(logits[:, :2], tokens)
    with pytest.raises(ValueError, match="at least 2"):
        causal_lm_loss(logits[:, :1], tokens[:, :1])
    with pytest.raises(ValueError, match="weights must have"):
        causal_lm_loss(logits, tokens, jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="1 <= prompt_length <= length"):
        completion_weights(jnp.array([0]), jnp.array([2]), 4)  # token 0 is never a target
    with pytest.raises(ValueError, match="1 <= prompt_length <= length"):
        completion_weights(jnp.array([3]), jnp.array([2]), 4)
    with pytest.raises(ValueError, match="1 <= prompt_length <= length"):
        completion_weights(jnp.array([1]), jnp.array([5]), 4)
