"""Per-row sampling: each row's token from its own settings and key, by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.serve.sampling_params import SamplingParams, choose_tokens

LOGITS = jnp.log(jnp.asarray([[0.1, 0.2, 0.3, 0.4], [0.5, 0.25, 0.15, 0.1], [0.4, 0.3, 0.2, 0.1]]))


def choose(temperature, top_k, top_p, seeds=(7, 8, 9), counters=(0, 0, 0), logits=LOGITS):
    arrays = [
        jnp.asarray(temperature, jnp.float32), jnp.asarray(top_k, jnp.int32),
        jnp.asarray(top_p, jnp.float32), jnp.asarray(seeds, jnp.uint32),
        jnp.asarray(counters, jnp.int32),
    ]  # fmt: skip
    tokens, logprobs = jax.jit(choose_tokens)(logits, *arrays)
    return np.asarray(tokens), np.asarray(logprobs)


def test_greedy_rows_take_the_argmax_and_report_its_log_probability():
    tokens, logprobs = choose([0, 0, 0], [0, 0, 0], [1, 1, 1])
    np.testing.assert_array_equal(tokens, [3, 0, 0])
    np.testing.assert_allclose(logprobs, np.log([0.4, 0.5, 0.4]), rtol=1e-6)


def test_a_row_draws_from_its_own_key_whatever_its_neighbours():
    # Row 0 at temperature 0.5 with seed 7, 3rd token: categorical(fold_in(PRNGKey(7), 2),
    # logits / 0.5), by hand.
    key = jax.random.fold_in(jax.random.PRNGKey(7), 2)
    want = int(jax.random.categorical(key, LOGITS[0] / 0.5))
    alone, _ = choose([0.5], [0], [1.0], seeds=[7], counters=[2], logits=LOGITS[:1])
    mixed, _ = choose([0.5, 0, 2.0], [0, 1, 0], [1.0, 1.0, 0.3], counters=[2, 5, 1])
    assert alone[0] == mixed[0] == want


def test_top_k_and_top_p_keep_only_their_candidates():
    draws = {
        (k, p): {int(choose([1.0] * 3, [k] * 3, [p] * 3, seeds=(s, s, s))[0][1]) for s in range(60)}
        for k, p in [(2, 1.0), (0, 0.6), (0, 0.76)]
    }
    assert draws[(2, 1.0)] == {0, 1}  # the two most likely of row 1
    assert draws[(0, 0.6)] == {0, 1}  # 0.5 < 0.6, 0.5 + 0.25 >= 0.6
    assert draws[(0, 0.76)] == {0, 1, 2}


@pytest.mark.parametrize(
    "params, message",
    [
        (SamplingParams(max_tokens=0), "max_tokens"),
        (SamplingParams(temperature=-0.1), "temperature"),
        (SamplingParams(top_k=11), "top_k"),
        (SamplingParams(top_p=1.5), "top_p"),
        (SamplingParams(seed=-1), "seed"),
        (SamplingParams(stop_ids=(10,)), "stop_ids"),
        (SamplingParams(stop=("",)), "stop strings"),
    ],
)
def test_settings_out_of_range_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        params.check(vocab_size=10)
