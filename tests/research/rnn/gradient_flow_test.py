"""Gradient flow through time: exact gradient norms of a linear recurrence, the decay-rate fit,
truncation to exact zeros, and the perturbed scan against the project's scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.rnn import gradient_flow
from research.rnn.cells import KINDS, Cell, project
from research.rnn.scan import run


def _linear_elman(diagonal, bias=0.5):
    """elman_relu with wh = diag(a), no input, positive bias: h_t = a * h_{t-1} + bias > 0, so the
    relu is the identity and d h_T / d h_{T-d} = diag(a)^d exactly."""
    h = len(diagonal)
    return {
        "wi": jnp.zeros((1, 1, h)),
        "wh": jnp.diag(jnp.asarray(diagonal, jnp.float32))[:, None, :],
        "bi": jnp.zeros((1, h)),
        "bh": jnp.full((1, h), bias),
    }


def _last_step_loss(v):
    return lambda outputs: jnp.sum(outputs[:, -1] * v)  # d loss / d h_{T-1} = v


@pytest.mark.parametrize("steps", [60, 200])
def test_linear_recurrence_has_gradient_norm_a_to_the_distance(steps):
    # Catches: distance indexed from the wrong end, eps added before the step, a norm over the wrong
    # axes, or one that overflows (a = 1.5 at distance 199 gives entries near 1e35).
    a = np.array([0.9, 1.1, 1.5], np.float64)
    cell, params = Cell("elman_relu", 3), _linear_elman(a)
    v = jnp.asarray([[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]])  # [B=2, H=3]
    x = jnp.zeros((2, steps, 1))
    norms = gradient_flow.hidden_gradient_norms(cell, params, x, _last_step_loss(v))
    d = np.arange(steps)[:, None]
    want = np.sqrt((np.asarray(v, np.float64)[None] ** 2 * (a**d)[:, None] ** 2).sum((1, 2)))
    assert norms.shape == (steps,)
    np.testing.assert_allclose(norms, want, rtol=3e-5)  # observed 1e-5 at d = 199 (float32)


def test_fitted_rate_recovers_a_geometric_decay_and_a_linear_cell():
    norms = 3.0 * 0.8 ** np.arange(50)
    assert gradient_flow.fit_decay_rate(norms) == pytest.approx(0.8, rel=1e-12)
    # Transient at the start, left out by `start`.
    bumped = norms.copy()
    bumped[:3] = [100.0, 50.0, 20.0]
    assert gradient_flow.fit_decay_rate(bumped, start=3) == pytest.approx(0.8, rel=1e-12)
    assert gradient_flow.fit_decay_rate(bumped) < 0.79  # without `start` the transient counts
    cell, params = Cell("elman_relu", 1), _linear_elman([0.95])
    norms = gradient_flow.hidden_gradient_norms(
        cell, params, jnp.zeros((1, 80, 1)), _last_step_loss(jnp.ones((1, 1)))
    )
    assert gradient_flow.fit_decay_rate(norms) == pytest.approx(0.95, rel=1e-6)


def test_fit_leaves_out_exact_zeros_and_refuses_too_few_points():
    norms = np.concatenate([2.0 * 0.5 ** np.arange(10), np.zeros(30)])
    assert gradient_flow.fit_decay_rate(norms) == pytest.approx(0.5, rel=1e-12)
    with pytest.raises(ValueError, match=r"at least 2 positive, finite norms at distance >= 9"):
        gradient_flow.fit_decay_rate(norms, start=9)


@pytest.mark.parametrize("kind", ["elman_tanh", "lstm", "gru"])
@pytest.mark.parametrize("steps,k", [(40, 8), (37, 10)])
def test_truncation_zeroes_gradients_beyond_k_exactly(kind, steps, k):
    # Catches: chunks counted from the first step (then the last chunk is short when k does not
    # divide T), a cut applied after the perturbation, or an LSTM cell state left uncut.
    cell = Cell(kind, 4)
    params = _random_params(cell, 2, jax.random.key(0), scale=1.5)
    x = jax.random.normal(jax.random.key(1), (3, steps, 2))
    v = jax.random.normal(jax.random.key(2), (3, 4))
    full = gradient_flow.hidden_gradient_norms(cell, params, x, _last_step_loss(v))
    cut = gradient_flow.hidden_gradient_norms(cell, params, x, _last_step_loss(v), truncate_steps=k)
    assert np.all(np.asarray(cut[k:]) == 0.0)
    assert np.all(np.asarray(cut[:k]) > 0)
    np.testing.assert_array_equal(cut[:k], full[:k])  # the kept chunk is untouched
    assert np.all(np.asarray(full[k:]) > 0)


def _random_params(cell, input_size, key, scale=1.0):
    shapes = cell.param_shapes(input_size)
    keys = jax.random.split(key, len(shapes))
    bound = scale / np.sqrt(cell.hidden_size)
    return {
        name: jax.random.uniform(k, shape, minval=-bound, maxval=bound)
        for k, (name, shape) in zip(keys, shapes.items(), strict=True)
    }


@pytest.mark.parametrize("kind", KINDS)
def test_unperturbed_scan_matches_the_project_scan(kind):
    cell = Cell(kind, 5)
    params = _random_params(cell, 3, jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (2, 9, 3))
    want, _ = run(cell, [{"fwd": params}], x)
    np.testing.assert_allclose(gradient_flow.perturbed_scan(cell, params, x), want, atol=1e-6)
    zeros = jnp.zeros((9, 2, 5))
    got = gradient_flow.perturbed_scan(cell, params, x, zeros, truncate_steps=4)
    np.testing.assert_allclose(got, want, atol=1e-6)  # truncation changes gradients, not values


@pytest.mark.parametrize("kind", ["elman_tanh", "lstm"])
def test_perturbation_is_added_to_h_after_each_step(kind):
    cell = Cell(kind, 3)
    params = _random_params(cell, 2, jax.random.key(5))
    x = jax.random.normal(jax.random.key(6), (2, 6, 2))
    eps = jax.random.normal(jax.random.key(7), (6, 2, 3))
    carry, want = cell.zero_carry(2), []
    for t in range(6):  # the definition, one Python step at a time
        carry, _ = cell.recur(params, carry, project(params, x[:, t]))
        carry = (carry[0] + eps[t], carry[1]) if kind == "lstm" else carry + eps[t]
        want.append(carry[0] if kind == "lstm" else carry)
    got = gradient_flow.perturbed_scan(cell, params, x, eps)
    np.testing.assert_allclose(got, jnp.stack(want, 1), atol=1e-6)


def test_spectral_radius_is_set_and_only_for_elman():
    cell = Cell("elman_tanh", 16)
    params = _random_params(cell, 1, jax.random.key(8))
    scaled = gradient_flow.with_spectral_radius(params, 2.5)
    radius = np.max(np.abs(np.linalg.eigvals(np.asarray(scaled["wh"][:, 0], np.float64))))
    assert radius == pytest.approx(2.5, rel=1e-5)
    np.testing.assert_array_equal(scaled["wi"], params["wi"])
    lstm = _random_params(Cell("lstm", 4), 1, jax.random.key(9))
    with pytest.raises(
        ValueError, match=r"needs an Elman cell's wh \[H,1,H\], got shape \[4, 4, 4\]"
    ):
        gradient_flow.with_spectral_radius(lstm, 2.0)


def test_bad_inputs_are_refused():
    cell = Cell("gru", 4)
    params = _random_params(cell, 2, jax.random.key(10))
    x = jnp.zeros((3, 5, 2))
    with pytest.raises(ValueError, match=r"eps must be \[T,B,H\] = \[5, 3, 4\], got \[3, 5, 4\]"):
        gradient_flow.perturbed_scan(cell, params, x, jnp.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match=r"truncate_steps must be >= 0"):
        gradient_flow.perturbed_scan(cell, params, x, truncate_steps=-1)
    with pytest.raises(ValueError, match=r"x must be \[B,T,I\]"):
        gradient_flow.perturbed_scan(cell, params, x[0])
