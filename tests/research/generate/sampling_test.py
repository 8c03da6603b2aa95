"""Tests for research/generate/sampling.py: greedy decoding with the KV cache equals step-by-step
full forward passes, temperature and top-k change the distribution as their formulas say, and bad
arguments are refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.sampling import TokenChooser, sample
from research.models import transformer_lm as lm
from tests.research.generate.counting_model import CountingModel

MAX_LEN = 16


@pytest.fixture(scope="module")
def model_and_params():
    model = lm.make("tiny", num_layers=2, embed_dim=64, num_heads=4, mlp_dim=128, max_len=MAX_LEN)
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, MAX_LEN), jnp.int32))["params"]
    return model, params


def _is_stepwise_argmax(model, params, out, prompt_len):
    """Whether each generated token is the argmax of a full forward (no cache) over its prefix.

    One forward over the whole output suffices: the model is causal (tested in
    transformer_lm_test.py), so the logits at t - 1 see exactly out[:t].
    """
    logits = model.apply({"params": params}, jnp.asarray(out, jnp.int32)[None])[0]
    predicted = np.asarray(jnp.argmax(logits, axis=-1))[prompt_len - 1 : len(out) - 1]
    return np.array_equal(predicted, out[prompt_len:])


@pytest.mark.parametrize("num_tokens", [1, 12])  # 12: prompt + tokens = max_len exactly
def test_greedy_with_the_cache_equals_stepwise_argmax(model_and_params, num_tokens):
    model, params = model_and_params
    prompt = np.array([3, 141, 59, 26], np.int32)
    out = sample(model, params, prompt, num_tokens=num_tokens, rng=jax.random.key(1), temperature=0)
    assert out.shape == (4 + num_tokens,) and out.dtype == jnp.int32
    np.testing.assert_array_equal(out[:4], prompt)
    assert _is_stepwise_argmax(model, params, np.asarray(out), len(prompt))
    # The check has teeth: a sampled (non-greedy) continuation fails it.
    sampled = sample(model, params, prompt, num_tokens=12, rng=jax.random.key(1))
    assert not _is_stepwise_argmax(model, params, np.asarray(sampled), len(prompt))


def test_a_batch_of_prompts_equals_each_prompt_alone(model_and_params):
    model, params = model_and_params
    prompts = np.array([[3, 141, 59], [200, 7, 7]], np.int32)
    batch = sample(model, params, prompts, num_tokens=6, rng=jax.random.key(0), temperature=0)
    for row, prompt in zip(np.asarray(batch), prompts, strict=True):
        alone = sample(model, params, prompt, num_tokens=6, rng=jax.random.key(0), temperature=0)
        np.testing.assert_array_equal(row, alone)


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


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_divides_the_logits(temperature):
    # 20,000 draws from fixed logits [2, 1, 0]: the frequencies match softmax(logits / T) within
    # 5 standard errors (<= 0.018), while neighbouring temperatures differ by >= 0.06.
    logits = jnp.broadcast_to(jnp.array([2.0, 1.0, 0.0]), (20000, 3))
    draws = TokenChooser(temperature=temperature)(logits, jax.random.key(0))
    frequencies = np.bincount(np.asarray(draws), minlength=3) / 20000
    expected = np.exp(np.array([2.0, 1.0, 0.0]) / temperature)
    expected /= expected.sum()
    np.testing.assert_allclose(frequencies, expected, atol=0.018)


def test_top_k_restricts_support_and_renormalizes():
    logits = jnp.broadcast_to(jnp.array([2.0, 1.9, 1.8, 1.7, 1.6]), (20000, 5))
    draws = np.asarray(TokenChooser(temperature=1.0, top_k=2)(logits, jax.random.key(0)))
    assert set(draws.tolist()) == {0, 1}
    np.testing.assert_allclose(np.mean(draws == 0), 1 / (1 + np.exp(-0.1)), atol=0.02)


def test_eos_stops_a_sample():
    out = sample(CountingModel(), {}, np.array([1]), num_tokens=5, rng=jax.random.key(0),
                 temperature=0, eos_id=3)  # fmt: skip
    np.testing.assert_array_equal(out, [1, 2, 3, 3, 3, 3])


def test_bad_arguments_raise(model_and_params):
    model, params = model_and_params
    rng = jax.random.key(0)
    with pytest.raises(ValueError, match="non-empty int array"):
        sample(model, params, np.zeros((0,), np.int32), num_tokens=1, rng=rng)
    with pytest.raises(ValueError, match="integer token ids"):
        sample(model, params, np.array([1.5]), num_tokens=1, rng=rng)
    with pytest.raises(ValueError, match=r"\[0, 257\)"):
        sample(model, params, np.array([300]), num_tokens=1, rng=rng)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, top_k=0)
    with pytest.raises(ValueError, match="eos_id"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, eos_id=257)
    with pytest.raises(ValueError, match="cannot decode 17 positions"):
        sample(model, params, np.array([1, 2]), num_tokens=15, rng=rng)
