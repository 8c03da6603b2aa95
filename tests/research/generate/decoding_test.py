"""Tests for research/generate/decoding.py: the loop's outputs on a model with known predictions,
stopping at EOS row by row, rng per step, the scores it returns on request, and the argument
checks. (Scores against a full forward of real models: sampling_test.py and t5_test.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.decoding import decode
from research.generate.sampling import TokenChooser
from tests.research.generate.counting_model import CountingModel

GREEDY = TokenChooser(temperature=0.0)


def test_greedy_follows_the_model_and_continues_the_prompt():
    prompts = jnp.array([[2, 0], [5, 3]], jnp.int32)
    out = decode(CountingModel(), {}, prompts, num_tokens=5, select=GREEDY, rng=jax.random.key(0))
    np.testing.assert_array_equal(out, [[1, 2, 3, 4, 5], [4, 5, 0, 1, 2]])


def test_rows_stop_at_eos_independently_and_are_filled_with_it():
    prompts = jnp.array([[0], [3], [4]], jnp.int32)
    out = decode(
        CountingModel(), {}, prompts, num_tokens=4, select=GREEDY, rng=jax.random.key(0), eos_id=5
    )
    np.testing.assert_array_equal(out, [[1, 2, 3, 4], [4, 5, 5, 5], [5, 5, 5, 5]])


def test_each_step_gets_its_own_key():
    # A rule that returns how the step's key differs from the loop's key, as a token id.
    keys = [jax.random.fold_in(jax.random.key(7), i) for i in range(3)]
    codes = [int(jax.random.randint(k, (), 0, 1000)) for k in keys]

    def select(logits, rng):
        return jnp.broadcast_to(jax.random.randint(rng, (), 0, 1000), logits.shape[:1])

    model = CountingModel()
    out = decode(model, {}, jnp.zeros((1, 1), jnp.int32), num_tokens=3, select=select,
                 rng=jax.random.key(7))  # fmt: skip
    np.testing.assert_array_equal(out[0], codes)


def test_logprobs_and_logits_are_the_scores_each_step_chose_from():
    # CountingModel scores 10 on (last + 1) mod 6 and 0 elsewhere, so every greedy choice has
    # log-probability 10 - log(e^10 + 5). Row 1 stops at EOS = 5 after two steps: its later
    # entries are the fill (0 here) with log-prob and logits 0. Catches scores of the wrong step,
    # of the sampling distribution instead of the model's, or counted after EOS.
    prompts = jnp.array([[0], [3]], jnp.int32)
    tokens, logprobs, logits = decode(
        CountingModel(), {}, prompts, num_tokens=4, select=GREEDY, rng=jax.random.key(0),
        eos_id=5, fill_id=0, return_logprobs=True, return_logits=True,
    )  # fmt: skip
    np.testing.assert_array_equal(tokens, [[1, 2, 3, 4], [4, 5, 0, 0]])
    chosen = 10 - np.log(np.exp(10) + 5)
    # float32 log_softmax: observed 1e-7 off the float64 value.
    np.testing.assert_allclose(logprobs, [[chosen] * 4, [chosen, chosen, 0, 0]], atol=1e-6)
    want = 10.0 * (np.array([[1, 2, 3, 4], [4, 5, -1, -1]])[..., None] == np.arange(6))
    np.testing.assert_array_equal(logits, want)
    only = decode(CountingModel(), {}, prompts, num_tokens=4, select=GREEDY, rng=jax.random.key(0),
                  return_logprobs=True)  # fmt: skip
    assert len(only) == 2 and only[1].shape == (2, 4)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match=r"prompts must be int32\[B,P\]"):
        decode(CountingModel(), {}, jnp.zeros((3,), jnp.int32), num_tokens=1, select=GREEDY,
               rng=jax.random.key(0))  # fmt: skip
    with pytest.raises(ValueError, match="num_tokens must be >= 1"):
        decode(CountingModel(), {}, jnp.zeros((1, 2), jnp.int32), num_tokens=0, select=GREEDY,
               rng=jax.random.key(0))  # fmt: skip
    with pytest.raises(ValueError, match="prompt_mask must have the prompts' shape"):
        decode(CountingModel(), {}, jnp.zeros((1, 2), jnp.int32), num_tokens=1, select=GREEDY,
               rng=jax.random.key(0), prompt_mask=jnp.ones((1, 3), bool))  # fmt: skip
    with pytest.raises(ValueError, match="fill_id=0 fills the rows after their eos_id"):
        decode(CountingModel(), {}, jnp.zeros((1, 2), jnp.int32), num_tokens=1, select=GREEDY,
               rng=jax.random.key(0), fill_id=0)  # fmt: skip
    with pytest.raises(ValueError, match="at most 32 positions"):
        decode(CountingModel(), {}, jnp.zeros((1, 2), jnp.int32), num_tokens=31, select=GREEDY,
               rng=jax.random.key(0))  # fmt: skip
