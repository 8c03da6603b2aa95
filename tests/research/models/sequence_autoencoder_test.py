"""Tests for research/models/sequence_autoencoder.py: presets (the conv math: tests/research/nn/
conv_test.py), shapes and learning for both architectures (golden logical axes: contract_test.py)."""

import jax
import numpy as np
import optax
import pytest

from research.models import load, sequence_autoencoder
from research.models.sequence_autoencoder import Config, make


def _init(model, length=16, channels=2):
    return model.init({"params": jax.random.key(0)}, np.zeros((1, length, channels), np.float32))


def test_make_presets_overrides_and_refusals():
    assert load("sequence_autoencoder") is sequence_autoencoder
    assert make().config == Config()
    assert make("lstm").config.architecture == "lstm"
    assert make("conv", latent_dim=3).config.latent_dim == 3
    with pytest.raises(ValueError, match=r"Unknown sequence_autoencoder variant 'gru'; choose"):
        make("gru")
    with pytest.raises(ValueError, match=r"Config field\(s\) \['latent'\]; valid fields are"):
        make(latent=3)


@pytest.mark.parametrize("architecture", ["conv", "lstm"])
def test_reconstruction_shape_and_training_lowers_the_error(architecture):
    model = make(architecture=architecture, hidden_dim=8, latent_dim=4, kernel_size=3)
    t = np.arange(16)
    x = np.stack([np.sin(t / 2 + p) for p in np.linspace(0, 6, 32)])[:, :, None].astype(np.float32)
    params = _init(model, 16, 1)["params"]
    assert model.apply({"params": params}, x).shape == (32, 16, 1)
    tx = optax.adam(1e-2)

    def loss(p):
        return ((model.apply({"params": p}, x) - x) ** 2).mean()

    @jax.jit
    def step(p, s):
        value, grads = jax.value_and_grad(loss)(p)
        updates, s = tx.update(grads, s)
        return optax.apply_updates(p, updates), s, value

    state = tx.init(params)
    first = None
    for _ in range(60):
        params, state, value = step(params, state)
        first = value if first is None else first
    # Bug caught: a decoder that cannot see the code (or a broken gradient path) does not learn.
    assert float(value) < {"conv": 0.5, "lstm": 0.85}[architecture] * float(
        first
    )  # measured 0.006 conv, 0.69 lstm


def test_bad_inputs():
    with pytest.raises(ValueError, match="must be a multiple of 4, got 18"):
        _init(make(), 18)
    with pytest.raises(ValueError, match=r"inputs must be windows \[B, L, C\]"):
        make().init({"params": jax.random.key(0)}, np.zeros((2, 16), np.float32))
    with pytest.raises(ValueError, match="Unknown sequence_autoencoder architecture 'gru'"):
        make(architecture="gru")
