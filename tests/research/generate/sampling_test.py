"""Tests for research/generate/sampling.py against step-by-step full forward passes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.sampling import sample
from research.models import transformer_lm as lm

MAX_LEN = 16


@pytest.fixture(scope="module")
def model_and_params():
    # The 'tiny' architecture with a short context, so the sliding window is exercised cheaply.
    model = lm.make("tiny", max_len=MAX_LEN)
    params = model.init(jax.random.key(0), jnp.zeros((1, MAX_LEN), jnp.int32))["params"]
    return model, params


def _is_stepwise_argmax(model, params, out, prompt_len):
    """Whether each generated token is the argmax of a full forward over its context.

    The context of token t is out[max(0, t - max_len):t]. Every context is run in one batched
    forward over a window of real tokens out[s:s + W]; the tokens after t - 1 in that window do not
    change the logits at t - 1 because the model is causal (tested in transformer_lm_test.py). By
    induction this equals greedy decoding step by step, without one eager forward per length.
    """
    width = min(MAX_LEN, len(out))
    starts = [max(0, t - MAX_LEN) for t in range(prompt_len, len(out))]
    windows = jnp.asarray(np.stack([out[s : s + width] for s in starts]), jnp.int32)
    logits = model.apply({"params": params}, windows)  # [num_tokens, W, V]
    rows = np.arange(len(starts))
    reads = np.arange(prompt_len, len(out)) - 1 - np.array(starts)
    predicted = np.asarray(jnp.argmax(logits, axis=-1))[rows, reads]
    return np.array_equal(predicted, out[prompt_len:])


@pytest.mark.parametrize("num_tokens", [6, 20])  # 20: P + num_tokens > max_len, sliding window
def test_greedy_equals_stepwise_argmax(model_and_params, num_tokens):
    model, params = model_and_params
    prompt = np.array([3, 141, 59, 26], np.int32)
    out = sample(model, params, prompt, num_tokens=num_tokens, rng=jax.random.key(1), temperature=0)
    assert out.shape == (4 + num_tokens,) and out.dtype == jnp.int32
    np.testing.assert_array_equal(out[:4], prompt)
    assert _is_stepwise_argmax(model, params, np.asarray(out), len(prompt))
    # The check has teeth: a sampled (non-greedy) continuation fails it.
    sampled = sample(model, params, prompt, num_tokens=num_tokens, rng=jax.random.key(1))
    assert not _is_stepwise_argmax(model, params, np.asarray(sampled), len(prompt))


def test_top_k_1_is_greedy(model_and_params):
    model, params = model_and_params
    prompt = np.array([7, 8], np.int32)
    greedy = sample(model, params, prompt, num_tokens=8, rng=jax.random.key(0), temperature=0)
    top1 = sample(model, params, prompt, num_tokens=8, rng=jax.random.key(5), top_k=1)
    np.testing.assert_array_equal(top1, greedy)


def test_fixed_rng_is_deterministic_and_keeps_prompt(model_and_params):
    model, params = model_and_params
    prompt = np.array([1, 2, 3], np.int32)
    kwargs = dict(num_tokens=10, temperature=1.0, top_k=50)
    a = sample(model, params, prompt, rng=jax.random.key(2), **kwargs)
    b = sample(model, params, prompt, rng=jax.random.key(2), **kwargs)
    c = sample(model, params, prompt, rng=jax.random.key(3), **kwargs)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a[:3], prompt)
    assert np.all((a >= 0) & (a < 257))


def test_top_k_restricts_support():
    # A hand-built "model" whose logits favour tokens 0 and 1: with top_k=2 nothing else appears.
    class Fixed:
        class config:  # noqa: N801 - mimics a model's config attribute
            max_len, vocab_size = 4, 5

        @staticmethod
        def apply(variables, tokens, train=False):
            logits = jnp.array([2.0, 1.9, 1.8, 1.7, 1.6])
            return jnp.broadcast_to(logits, tokens.shape + (5,))

    out = sample(Fixed(), {}, np.array([4]), num_tokens=40, rng=jax.random.key(0), top_k=2)
    assert set(np.asarray(out[1:]).tolist()) == {0, 1}


def test_bad_arguments_raise(model_and_params):
    model, params = model_and_params
    rng = jax.random.key(0)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        sample(model, params, np.zeros((0,), np.int32), num_tokens=1, rng=rng)
    with pytest.raises(ValueError, match="257"):
        sample(model, params, np.array([300]), num_tokens=1, rng=rng)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, top_k=0)
