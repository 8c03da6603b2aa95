"""Tests for research/generate/sampling.py: greedy decoding with the KV cache equals step-by-step
full forward passes, returned log-probs and logits equal a full forward, an encoder-decoder's
right-padded inputs generate as unpadded ones, left-padded prompt batches equal one-at-a-time decoding (also with EOS, and
sharded over 8 devices), temperature, top-k and top-p change the distribution as their formulas
say, and bad arguments are refused."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.sampling import TokenChooser, left_pad, sample, top_p_mask
from research.models import t5
from research.models import transformer_lm as lm
from research.sharding import axes, partition
from research.sharding import mesh as mesh_lib
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


def test_logprobs_and_logits_equal_a_full_forward_over_the_output(model_and_params):
    # Cached decode == full forward: the scores of step i are the full forward's at position
    # P - 1 + i over prompt + generated tokens, and the log-probs are its log_softmax at the
    # chosen tokens (the model's, not the temperature / top-k distribution that drew them).
    model, params = model_and_params
    prompt = np.array([3, 141, 59, 26], np.int32)
    out, logprobs, logits = sample(
        model, params, prompt, num_tokens=8, rng=jax.random.key(6), temperature=0.7, top_k=40,
        return_logprobs=True, return_logits=True,
    )  # fmt: skip
    assert logprobs.shape == (8,) and logits.shape == (8, model.config.vocab_size)
    full = model.apply({"params": params}, out[None])[0, 3:11]  # [8,V]
    np.testing.assert_allclose(logits, full, atol=2e-5)
    want = jnp.take_along_axis(jax.nn.log_softmax(full), out[4:, None], -1)[:, 0]
    np.testing.assert_allclose(logprobs, want, atol=2e-5)


def test_an_encoder_decoders_right_padded_input_generates_as_the_unpadded_one():
    # T5 (an encoder-decoder): the prompt is the encoder input and prompt_mask its right padding.
    # Padding [5, 6, 7] to 5 or 4 tokens (with any pad ids) gives the same tokens, in a batch or
    # alone; catches a mask dropped by sample or read as left padding.
    model = t5.make("tiny", vocab_size=40, embed_dim=16, num_heads=2, head_dim=8, mlp_dim=32)
    params = nn.unbox(
        jax.jit(model.init)(jax.random.key(0), jnp.ones((1, 5), jnp.int32), jnp.ones((1, 2), int))
    )["params"]
    kwargs = dict(num_tokens=4, rng=jax.random.key(2), temperature=1.0)
    alone, alone_logprobs = sample(
        model, params, np.array([5, 6, 7]), return_logprobs=True, **kwargs
    )
    alone = np.asarray(alone)[3:]
    batch = sample(model, params, np.array([[5, 6, 7, 0, 0], [9, 10, 11, 12, 13]]),
                   prompt_mask=np.array([[1, 1, 1, 0, 0], [1] * 5], bool), **kwargs)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(batch)[0, 5:], alone)
    other = sample(model, params, np.array([[5, 6, 7, 33]]), prompt_mask=np.array([[1, 1, 1, 0]]),
                   **kwargs)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(other)[0, 4:], alone)
    _, unmasked = sample(model, params, np.array([[5, 6, 7, 33]]), return_logprobs=True, **kwargs)
    assert np.abs(unmasked[0] - alone_logprobs).max() > 1e-3  # the mask did the work
    with pytest.raises(ValueError, match="encoder-decoder must mark right-padded"):
        sample(model, params, np.array([[0, 5]]), prompt_mask=np.array([[0, 1]]), **kwargs)


def test_a_batch_of_prompts_equals_each_prompt_alone(model_and_params):
    model, params = model_and_params
    prompts = np.array([[3, 141, 59], [200, 7, 7]], np.int32)
    batch = sample(model, params, prompts, num_tokens=6, rng=jax.random.key(0), temperature=0)
    for row, prompt in zip(np.asarray(batch), prompts, strict=True):
        alone = sample(model, params, prompt, num_tokens=6, rng=jax.random.key(0), temperature=0)
        np.testing.assert_array_equal(row, alone)


PROMPTS = ([3, 141, 59, 26], [200], [7, 7, 1, 2, 250, 9])


def test_left_pad_right_aligns_prompts():
    tokens, mask = left_pad([[5, 6], [7], [1, 2, 3]], pad_id=9)
    np.testing.assert_array_equal(tokens, [[9, 5, 6], [9, 9, 7], [1, 2, 3]])
    np.testing.assert_array_equal(mask, [[0, 1, 1], [0, 0, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match="at least one token"):
        left_pad([[1], []])


def test_left_padded_batch_equals_each_prompt_alone_token_for_token(model_and_params):
    # Without positions from the mask, row 1 (5 pads) would see its prompt at positions 5..; without
    # the cache's key mask, it would attend to the pads: both change its greedy continuation.
    model, params = model_and_params
    tokens, mask = left_pad(PROMPTS, pad_id=0)
    batch = sample(model, params, tokens, num_tokens=8, rng=jax.random.key(0), temperature=0,
                   prompt_mask=mask)  # fmt: skip
    assert batch.shape == (3, 6 + 8)
    np.testing.assert_array_equal(batch[:, :6], tokens)
    for row, prompt in zip(np.asarray(batch), PROMPTS, strict=True):
        alone = sample(model, params, np.array(prompt), num_tokens=8, rng=jax.random.key(0),
                       temperature=0)  # fmt: skip
        np.testing.assert_array_equal(row[6:], np.asarray(alone)[len(prompt) :])
    # The check has teeth: treating the pads as tokens changes the short rows' continuations.
    unmasked = sample(model, params, tokens, num_tokens=8, rng=jax.random.key(0), temperature=0)
    assert not np.array_equal(unmasked[1], batch[1])


def test_left_padded_rows_stop_at_eos_independently(model_and_params):
    model, params = model_and_params
    tokens, mask = left_pad(PROMPTS, pad_id=0)
    free = np.asarray(sample(model, params, tokens, num_tokens=8, rng=jax.random.key(0),
                             temperature=0, prompt_mask=mask))[:, 6:]  # fmt: skip

    def first_steps(token):
        return [int(np.argmax(r == token)) if (r == token).any() else None for r in free]

    # An EOS that row 0 emits after step 0 and the rows reach at different steps (or never).
    eos = next(
        int(t) for t in free[0, 1:] if first_steps(t)[0] > 0 and len(set(first_steps(t))) > 1
    )
    first = first_steps(eos)
    batch = sample(model, params, tokens, num_tokens=8, rng=jax.random.key(0), temperature=0,
                   prompt_mask=mask, eos_id=eos)  # fmt: skip
    for row, prompt, stop in zip(np.asarray(batch)[:, 6:], PROMPTS, first, strict=True):
        alone = sample(model, params, np.array(prompt), num_tokens=8, rng=jax.random.key(0),
                       temperature=0, eos_id=eos)  # fmt: skip
        np.testing.assert_array_equal(row, np.asarray(alone)[len(prompt) :])
        if stop is not None:
            np.testing.assert_array_equal(row[stop:], eos)


@pytest.mark.timeout(240)
def test_sharded_cache_and_decoding_equal_the_unsharded_run(model_and_params):
    # 8 fake devices as (data 2, fsdp 1, tensor 4): the batch over `data`, the 4 heads over
    # `tensor`. The cache is born with the attention activations' layout.
    model, params = model_and_params
    tokens, mask = left_pad([*PROMPTS, [9, 8, 7]], pad_id=0)  # batch 4: divisible by data=2
    kwargs = dict(num_tokens=6, rng=jax.random.key(3), temperature=0.8, top_k=40, top_p=0.9)
    expected = np.asarray(sample(model, params, tokens, prompt_mask=mask, **kwargs))
    mesh = mesh_lib.make_mesh(data=2, fsdp=1, tensor=4)
    with jax.set_mesh(mesh), nn.logical_axis_rules(list(axes.RULES)):
        cache = jax.jit(lambda: model.init_cache(4, 12))()
        kv = cache["block_0"].key
        assert kv.shape == (4, 12, 4, 16)
        assert kv.sharding.shard_shape(kv.shape) == (2, 12, 1, 16)  # batch / 2, heads / 4
        valid = cache["key_valid"]
        assert valid.sharding.shard_shape(valid.shape) == (2, 12)
        shardings = partition.state_shardings(params, mesh)
        sharded = jax.device_put(partition.strip_boxes(params), shardings)
        out = sample(model, sharded, tokens, prompt_mask=mask, **kwargs)
        out = np.asarray(jax.block_until_ready(out))
    np.testing.assert_array_equal(out, expected)


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


# Probabilities 1/2, 1/4, 1/8, 1/8: the nucleus boundaries are known exactly.
DYADIC = jnp.log(jnp.array([[0.125, 0.5, 0.125, 0.25]]))


@pytest.mark.parametrize(
    "top_p, kept",
    [
        (0.1, [0, 1, 0, 0]),  # the most likely token alone already has >= p
        (0.5, [0, 1, 0, 0]),  # 1/2 >= 0.5: the smallest set is one token
        (0.6, [0, 1, 0, 1]),  # 1/2 < 0.6 <= 3/4
        (0.74, [0, 1, 0, 1]),
        (0.76, [1, 1, 1, 1]),  # needs one 1/8 token; its tie comes along (documented)
        (1.0, [1, 1, 1, 1]),
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
    np.testing.assert_array_equal(top_p_mask(DYADIC, top_p)[0], np.array(kept, bool))


def test_top_p_keeps_ties_with_the_top_token():
    logits = jnp.log(jnp.array([[0.4, 0.2, 0.4]]))
    np.testing.assert_array_equal(top_p_mask(logits, 0.3)[0], [True, False, True])


def test_top_p_samples_the_renormalized_nucleus():
    logits = jnp.broadcast_to(DYADIC, (20000, 4))
    draws = np.asarray(TokenChooser(temperature=1.0, top_p=0.7)(logits, jax.random.key(0)))
    assert set(draws.tolist()) == {1, 3}
    np.testing.assert_allclose(np.mean(draws == 1), 2 / 3, atol=0.02)  # (1/2) / (3/4)


def test_top_p_applies_after_top_k_and_temperature():
    # Probabilities .4 .3 .2 .1. Top-k=3 renormalizes to 4/9 3/9 2/9: p=0.75 then needs two
    # tokens. Applied to the full distribution, p=0.75 would need three (.4 + .3 < .75).
    probs = jnp.array([0.4, 0.3, 0.2, 0.1])
    logits = jnp.broadcast_to(jnp.log(probs), (4000, 4))
    draws = np.asarray(TokenChooser(top_k=3, top_p=0.75)(logits, jax.random.key(0)))
    assert set(draws.tolist()) == {0, 1}
    # Temperature first: at T=0.5 the probabilities are .4^2 : .3^2 : ... -> 16/30, 9/30, ...,
    # so p=0.5 keeps the top token alone.
    draws = np.asarray(TokenChooser(temperature=0.5, top_p=0.5)(logits, jax.random.key(0)))
    assert set(draws.tolist()) == {0}


def test_chooser_hashes_by_value():
    assert hash(TokenChooser(0.7, 5, 0.9)) == hash(TokenChooser(0.7, 5, 0.9))
    assert TokenChooser(0.7, 5, 0.9) != TokenChooser(0.7, 5, 0.8)


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
    with pytest.raises(ValueError, match="top_p"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, top_p=0.0)
    with pytest.raises(ValueError, match="left-padded rows"):  # padding on the right
        sample(model, params, np.array([[1, 2]]), num_tokens=1, rng=rng,
               prompt_mask=np.array([[True, False]]))  # fmt: skip
    with pytest.raises(ValueError, match="prompts' shape"):
        sample(model, params, np.array([[1, 2]]), num_tokens=1, rng=rng,
               prompt_mask=np.array([[True]]))  # fmt: skip
    with pytest.raises(ValueError, match="eos_id"):
        sample(model, params, np.array([1]), num_tokens=1, rng=rng, eos_id=257)
    with pytest.raises(ValueError, match="cannot decode 17 positions"):
        sample(model, params, np.array([1, 2]), num_tokens=15, rng=rng)
