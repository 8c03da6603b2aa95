"""Tests for research/models/vae.py: presets, the explicit-rng reparameterization, shared
encoder/decoder parameter names, prior samples and interpolation endpoints (golden axes: contract_test.py)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import autoencoder, vae
from research.models.vae import Config, make


def _images(cfg, n=2, seed=0):
    shape = (n, cfg.image_size, cfg.image_size, cfg.channels)
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _init(model):
    return model.init({"params": jax.random.key(0)}, _images(model.config, 1))


def _params(model, seed=1):
    rng = np.random.default_rng(seed)
    params = nn.unbox(_init(model)["params"])
    return jax.tree.map(lambda a: (0.5 * rng.normal(size=a.shape)).astype(np.float32), params)


def test_make_presets_and_errors():
    assert make().config == Config()
    for name, fields in vae.VARIANTS.items():
        assert make(name).config == Config(**fields)
    with pytest.raises(ValueError, match=r"Unknown vae variant 'big'; choose one of \["):
        make("big")
    with pytest.raises(ValueError, match=r"Unknown vae Config field\(s\) \['bta'\]"):
        make(bta=2.0)
    with pytest.raises(ValueError, match=r"Unknown likelihood 'poisson'"):
        _init(make(likelihood="poisson"))


@pytest.mark.parametrize("variant", sorted(vae.VARIANTS))
def test_every_preset_has_the_shapes(variant):
    model = make(variant)
    cfg = model.config
    x = _images(cfg, 3)
    out = jax.eval_shape(lambda: model.apply(_init(model), x, jax.random.key(1)))
    assert out["output"].shape == out["image"].shape == x.shape
    for key in ("code", "mean", "logvar"):
        assert out[key].shape == (3, cfg.latent_dim)


def test_encoder_and_decoder_are_the_autoencoders():
    """Same parameter names and shapes as the autoencoder, the encoder twice as wide at the code."""
    v = jax.tree.map(lambda a: a.shape, nn.unbox(_init(make("digits"))["params"]))
    a = jax.tree.map(lambda a: a.shape, nn.unbox(_init(autoencoder.make("classic"))["params"]))
    assert v["decoder"] == a["decoder"]
    assert v["encoder"]["code"]["kernel"] == (256, 32) and a["encoder"]["code"]["kernel"] == (
        256,
        16,
    )


def test_code_is_mean_plus_noise_from_the_explicit_rng():
    model = make("digits", hidden_dim=16, latent_dim=4)
    params = _params(model)
    x = _images(model.config, 3)
    out = model.apply({"params": params}, x, jax.random.key(7))
    eps = jax.random.normal(jax.random.key(7), (3, 4))
    want = out["mean"] + jnp.exp(0.5 * out["logvar"]) * eps
    np.testing.assert_allclose(out["code"], want, rtol=1e-6, atol=1e-6)
    again = model.apply({"params": params}, x, jax.random.key(7))
    np.testing.assert_array_equal(out["code"], again["code"])
    other = model.apply({"params": params}, x, jax.random.key(8))
    assert not np.allclose(out["code"], other["code"])
    mean_only = model.apply({"params": params}, x)  # rng None: z = mean
    np.testing.assert_array_equal(mean_only["code"], out["mean"])
    np.testing.assert_allclose(
        mean_only["image"], jax.nn.sigmoid(mean_only["output"]), rtol=1e-6
    )  # Bernoulli decoder: the image is the sigmoid of the logits


def test_gaussian_decoder_outputs_the_mean_image():
    model = make("digits", hidden_dim=16, latent_dim=4, likelihood="gaussian")
    out = model.apply({"params": _params(model)}, _images(model.config))
    np.testing.assert_array_equal(out["image"], out["output"])


def test_prior_samples_and_interpolation_decode_the_right_codes():
    model = make("digits", hidden_dim=16, latent_dim=4)
    params = _params(model)
    samples = vae.sample_prior(model, params, jax.random.key(3), 5)
    z = jax.random.normal(jax.random.key(3), (5, 4))
    np.testing.assert_allclose(
        samples, model.apply({"params": params}, z, method=vae.Model.image), rtol=1e-6
    )
    x = _images(model.config, 2)
    path = vae.interpolate(model, params, x[0], x[1], 4)
    ends = model.apply({"params": params}, x)["image"]  # z = posterior mean
    assert path.shape == (4, 8, 8, 1)
    np.testing.assert_allclose(path[0], ends[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(path[-1], ends[1], rtol=1e-5, atol=1e-6)
