"""Tests for research/models/sequence_autoencoder.py: presets (the conv math: tests/research/nn/
conv_test.py), shapes and learning for both kinds, golden logical axes."""

import json
import os
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest
from flax import traverse_util

from research.models import load, sequence_autoencoder
from research.models.sequence_autoencoder import Config, make


def _init(model, length=16, channels=2):
    return model.init({"params": jax.random.key(0)}, np.zeros((1, length, channels), np.float32))


def test_make_presets_overrides_and_refusals():
    assert load("sequence_autoencoder") is sequence_autoencoder
    assert make().config == Config()
    assert make("lstm").config.kind == "lstm"
    assert make("conv", latent_dim=3).config.latent_dim == 3
    with pytest.raises(ValueError, match=r"Unknown sequence_autoencoder variant 'gru'; choose"):
        make("gru")
    with pytest.raises(ValueError, match=r"Config field\(s\) \['latent'\]; valid fields are"):
        make(latent=3)


@pytest.mark.parametrize("kind", ["conv", "lstm"])
def test_reconstruction_shape_and_training_lowers_the_error(kind):
    model = make(kind=kind, hidden_dim=8, latent_dim=4, kernel_size=3)
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
    assert float(value) < {"conv": 0.5, "lstm": 0.85}[kind] * float(
        first
    )  # measured 0.006 conv, 0.69 lstm


def test_bad_inputs():
    with pytest.raises(ValueError, match="must be a multiple of 4, got 18"):
        _init(make(), 18)
    with pytest.raises(ValueError, match=r"inputs must be windows \[B, L, C\]"):
        make().init({"params": jax.random.key(0)}, np.zeros((2, 16), np.float32))
    with pytest.raises(ValueError, match="Unknown sequence_autoencoder kind 'gru'"):
        _init(make(kind="gru"))


@pytest.mark.parametrize("variant", ["conv", "lstm"])
def test_golden_logical_axes(variant):
    """Parameter path -> logical axes (window 32, 1 channel); a change here changes sharding.

    Regenerate after an intended change with
      REGENERATE_GOLDEN=1 .venv/bin/python -m pytest \
          tests/research/models/sequence_autoencoder_test.py
    and review the diff of the golden file.
    """
    golden = Path(__file__).parent / "golden" / f"sequence_autoencoder_{variant}_axes.json"
    shapes = jax.eval_shape(lambda: _init(make(variant), 32, 1))
    flat = traverse_util.flatten_dict(nn.get_partition_spec(shapes)["params"], sep="/")
    axes = {path: list(spec) for path, spec in sorted(flat.items())}
    if os.environ.get("REGENERATE_GOLDEN"):
        golden.write_text(json.dumps(axes, indent=2) + "\n")
    assert axes == json.loads(golden.read_text())
