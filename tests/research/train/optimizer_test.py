"""Tests for research/train/optimizer.py: schedules against closed forms, AdamW against numpy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs.common import base_config
from research.train.optimizer import decay_mask, learning_rate_schedule, make_optimizer


def _cfg(**overrides):
    cfg = base_config().optimizer
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def _expected_lr(step, *, peak, warmup, total, decay, end_ratio):
    """The schedule written out: linear warmup from 0, then the decay over the remaining steps."""
    if step < warmup:
        return peak * step / warmup
    t = min(step - warmup, total - warmup)
    frac = t / (total - warmup)
    if decay == "cosine":
        return peak * ((1 - end_ratio) * 0.5 * (1 + math.cos(math.pi * frac)) + end_ratio)
    if decay == "linear":
        return peak + (peak * end_ratio - peak) * frac
    return peak


@pytest.mark.parametrize("decay", ["cosine", "linear", "constant"])
def test_schedule_matches_closed_form(decay):
    cfg = _cfg(learning_rate=0.5, warmup_steps=10, decay=decay, end_learning_rate_ratio=0.1)
    schedule = learning_rate_schedule(cfg, 110)
    for step in (0, 1, 5, 9, 10, 11, 35, 60, 109, 110, 200):
        want = _expected_lr(step, peak=0.5, warmup=10, total=110, decay=decay, end_ratio=0.1)
        assert float(schedule(step)) == pytest.approx(want, rel=1e-6, abs=1e-9), step


def test_schedule_landmarks():
    cfg = _cfg(learning_rate=2.0, warmup_steps=4, decay="cosine", end_learning_rate_ratio=0.25)
    schedule = learning_rate_schedule(cfg, 104)
    assert float(schedule(0)) == 0.0
    assert float(schedule(2)) == pytest.approx(1.0)  # half way up the warmup
    assert float(schedule(4)) == pytest.approx(2.0)  # the peak
    assert float(schedule(54)) == pytest.approx(2.0 * (0.75 * 0.5 + 0.25))  # cosine midpoint
    assert float(schedule(104)) == pytest.approx(0.5)  # end = ratio * peak, and it stays there
    assert float(schedule(10_000)) == pytest.approx(0.5)


def test_no_warmup_starts_at_the_peak_and_linear_ends_at_the_ratio():
    cfg = _cfg(learning_rate=1.0, warmup_steps=0, decay="linear", end_learning_rate_ratio=0.0)
    schedule = learning_rate_schedule(cfg, 10)
    assert [float(schedule(s)) for s in (0, 5, 10)] == pytest.approx([1.0, 0.5, 0.0])


def test_warmup_longer_than_training_is_capped():
    cfg = _cfg(learning_rate=1.0, warmup_steps=100, decay="cosine")
    schedule = learning_rate_schedule(cfg, 10)
    assert float(schedule(5)) == pytest.approx(0.5)  # warmup spans the 10 steps, not 100


def test_unknown_decay_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"decay='step' is not known; use one of cosine, linear"):
        learning_rate_schedule(_cfg(decay="step"), 10)


def test_decay_mask_selects_matrices_only():
    params = {
        "dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones((2,))},
        "heads": {"kernel": jnp.ones((3, 2, 2)), "bias": jnp.ones((2, 2))},
        "lstm": {k: jnp.ones((3, 4, 2)) for k in ("wi", "wh")}
        | {k: jnp.ones((4, 2)) for k in ("bi", "bh")},
        "norm": {"scale": jnp.ones((2,))},
        "embedding": jnp.ones((5, 2)),
        "conv": jnp.ones((3, 3, 2)),
        "scalar": jnp.ones(()),
    }
    assert decay_mask(params) == {
        "dense": {"kernel": True, "bias": False},
        "heads": {"kernel": True, "bias": False},
        "lstm": {"wi": True, "wh": True, "bi": False, "bh": False},
        "norm": {"scale": False},
        "embedding": True,
        "conv": True,
        "scalar": False,
    }


def _numpy_adamw(params, grads_per_step, *, lrs, b1, b2, eps, wd, clip):
    """AdamW (decoupled decay on ndim >= 2) after global-norm clipping, written out in float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    mu = {k: np.zeros_like(v) for k, v in p.items()}
    nu = {k: np.zeros_like(v) for k, v in p.items()}
    for t, (grads, lr) in enumerate(zip(grads_per_step, lrs, strict=True), start=1):
        g = {k: np.asarray(v, np.float64) for k, v in grads.items()}
        norm = math.sqrt(sum(float(np.sum(v**2)) for v in g.values()))
        if clip and norm > clip:
            g = {k: v * clip / norm for k, v in g.items()}
        for k in p:
            mu[k] = b1 * mu[k] + (1 - b1) * g[k]
            nu[k] = b2 * nu[k] + (1 - b2) * g[k] ** 2
            update = (mu[k] / (1 - b1**t)) / (np.sqrt(nu[k] / (1 - b2**t)) + eps)
            if p[k].ndim >= 2:
                update = update + wd * p[k]
            p[k] = p[k] - lr * update
    return p


@pytest.mark.parametrize("clip", [0.5, 0.0])
def test_updates_equal_numpy_adamw_with_clipping(clip):
    cfg = _cfg(
        learning_rate=0.1,
        warmup_steps=2,
        decay="cosine",
        end_learning_rate_ratio=0.1,
        b1=0.9,
        b2=0.95,
        eps=1e-8,
        weight_decay=0.3,
        grad_clip_norm=clip,
    )
    total = 6
    rng = np.random.default_rng(0)
    params = {
        "kernel": rng.normal(size=(3, 2)).astype(np.float32),
        "bias": rng.normal(size=(2,)).astype(np.float32),
    }
    grads = [
        {k: (3.0 * rng.normal(size=v.shape)).astype(np.float32) for k, v in params.items()}
        for _ in range(4)
    ]
    assert all(
        math.sqrt(sum(float(np.sum(v**2)) for v in g.values())) > 0.5 for g in grads
    )  # every step is clipped when clipping is on
    tx = make_optimizer(cfg, total)
    state = tx.init(params)
    p = params
    update = jax.jit(tx.update)
    for g in grads:
        updates, state = update(g, state, p)
        p = jax.tree.map(lambda a, u: a + u, p, updates)
    schedule = learning_rate_schedule(cfg, total)
    lrs = [
        _expected_lr(s, peak=0.1, warmup=2, total=total, decay="cosine", end_ratio=0.1)
        for s in range(4)
    ]
    assert [float(schedule(s)) for s in range(4)] == pytest.approx(lrs)
    want = _numpy_adamw(params, grads, lrs=lrs, b1=0.9, b2=0.95, eps=1e-8, wd=0.3, clip=clip)
    for k in params:
        np.testing.assert_allclose(p[k], want[k], rtol=2e-6, atol=2e-6, err_msg=k)


def test_clipping_scales_the_gradient_by_its_global_norm():
    base = dict(warmup_steps=0, decay="constant", learning_rate=0.1, weight_decay=0.0)
    params = {"w": jnp.zeros((2,))}
    grads = {"w": jnp.array([30.0, -40.0])}  # global norm 50, clipped to 1: [0.6, -0.8]
    sgd_like = []
    for clip in (1.0, 0.0):
        tx = make_optimizer(_cfg(**base, grad_clip_norm=clip, b1=0.0, b2=0.0, eps=10.0), 10)
        updates, _ = tx.update(grads, tx.init(params), params)
        sgd_like.append(np.asarray(updates["w"]))
    # With b1 = b2 = 0 and a large eps the update is -lr * g / (|g| + eps): clipping shrinks g.
    clipped_g = np.array([0.6, -0.8])
    np.testing.assert_allclose(
        sgd_like[0], -0.1 * clipped_g / (np.abs(clipped_g) + 10.0), rtol=1e-6
    )
    np.testing.assert_allclose(
        sgd_like[1], -0.1 * np.array([30.0, -40.0]) / (np.array([30.0, 40.0]) + 10.0), rtol=1e-6
    )


def test_weight_decay_shrinks_kernels_but_not_biases():
    cfg = _cfg(learning_rate=0.1, warmup_steps=0, decay="constant", weight_decay=0.5)
    params = {"kernel": jnp.full((2, 2), 2.0), "bias": jnp.full((2,), 2.0)}
    zeros = jax.tree.map(jnp.zeros_like, params)  # no gradient: only the decay moves anything
    tx = make_optimizer(cfg, 10)
    updates, _ = tx.update(zeros, tx.init(params), params)
    np.testing.assert_allclose(updates["kernel"], -0.1 * 0.5 * 2.0 * np.ones((2, 2)), rtol=1e-6)
    np.testing.assert_array_equal(updates["bias"], np.zeros(2))


def test_sgd_is_the_plain_scheduled_step_without_weight_decay():
    # word2vec's update: p - lr(t) * g, nothing else (no momentum, no decay even at weight_decay 0.5).
    cfg = _cfg(
        name="sgd",
        learning_rate=0.5,
        warmup_steps=0,
        decay="linear",
        end_learning_rate_ratio=0.0,
        weight_decay=0.5,
        grad_clip_norm=0.0,
    )
    params = {"kernel": jnp.full((2, 2), 2.0)}
    grads = {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.0]])}
    tx = make_optimizer(cfg, 4)
    state = tx.init(params)
    for step, lr in enumerate([0.5, 0.375]):  # linear from 0.5 to 0 over 4 steps
        updates, state = tx.update(grads, state, params)
        np.testing.assert_allclose(
            updates["kernel"], -lr * grads["kernel"], rtol=1e-6, err_msg=f"step {step}"
        )


def test_adagrad_divides_by_the_root_of_the_accumulated_squares():
    cfg = _cfg(
        name="adagrad",
        learning_rate=0.05,
        warmup_steps=0,
        decay="constant",
        initial_accumulator=1.0,
        eps=0.0,
        grad_clip_norm=0.0,
    )
    params = {"w": jnp.zeros((3,))}
    grads = [np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.0, -1.0])]
    tx = make_optimizer(cfg, 10)
    state = tx.init(params)
    accumulated = np.ones(3)
    for g in grads:
        updates, state = tx.update({"w": jnp.asarray(g)}, state, params)
        accumulated = accumulated + g**2
        np.testing.assert_allclose(updates["w"], -0.05 * g / np.sqrt(accumulated), rtol=1e-6)


def test_unknown_optimizer_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="optimizer.name='lion' is not known; use one of adamw"):
        make_optimizer(_cfg(name="lion"), 10)
