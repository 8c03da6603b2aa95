"""Tests for research/models/autoencoder.py: presets, parameter names and axes, a numpy forward of
the dense model, the convolutional shapes, the code activations and top-k, and bad input."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from research.models import autoencoder
from research.models.autoencoder import Config, make


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _images(cfg, n=2, seed=0):
    shape = (n, cfg.image_size, cfg.image_size, cfg.channels)
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _init(model):
    return model.init({"params": jax.random.key(0)}, _images(model.config, 1))


def _random_params(model, seed=1, scale=0.5):
    rng = np.random.default_rng(seed)
    params = nn.unbox(_init(model)["params"])
    return jax.tree.map(lambda a: (scale * rng.normal(size=a.shape)).astype(np.float32), params)


def test_make_presets_and_overrides():
    assert make().config == Config()
    for name, fields in autoencoder.VARIANTS.items():
        assert make(name).config == Config(**fields)
    assert make("sparse", latent_dim=4).config.code_activation == "sigmoid"
    assert make("sparse", latent_dim=4).config.latent_dim == 4


def test_make_refuses_unknown_variants_and_fields():
    with pytest.raises(ValueError, match=r"Unknown autoencoder variant 'huge'; choose one of \["):
        make("huge")
    with pytest.raises(ValueError, match=r"Config field\(s\) \['latnt_dim'\]; valid fields are"):
        make(latnt_dim=3)


@pytest.mark.parametrize("variant", sorted(autoencoder.VARIANTS))
def test_every_preset_maps_images_to_codes_and_back(variant):
    model = make(variant)
    cfg = model.config
    x = _images(cfg, 3)
    out = jax.eval_shape(lambda: model.apply(_init(model), x))
    assert out["output"].shape == out["image"].shape == x.shape
    assert out["code"].shape == (3, cfg.latent_dim)


def test_dense_forward_equals_numpy():
    model = make(
        "classic", image_size=4, hidden_dim=6, num_layers=1, latent_dim=3, loss="bernoulli"
    )
    params = _random_params(model)
    x = _images(model.config, 2)
    enc, dec = params["encoder"], params["decoder"]
    h = _gelu_tanh(x.reshape(2, 16) @ enc["hidden_0"]["kernel"] + enc["hidden_0"]["bias"])
    z = h @ enc["code"]["kernel"] + enc["code"]["bias"]
    h = _gelu_tanh(z @ dec["hidden_0"]["kernel"] + dec["hidden_0"]["bias"])
    logits = (h @ dec["out"]["kernel"] + dec["out"]["bias"]).reshape(2, 4, 4, 1)
    out = model.apply({"params": params}, x)
    np.testing.assert_allclose(out["code"], z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["output"], logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["image"], 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    mse_model = make("classic", image_size=4, hidden_dim=6, num_layers=1, latent_dim=3)
    np.testing.assert_array_equal(
        mse_model.apply({"params": params}, x)["image"], out["output"]
    )  # 'mse': the output is the image itself


def test_conv_halves_the_image_per_layer_and_mirrors_it():
    model = make("conv", image_size=8, conv_features=4, num_conv_layers=2, latent_dim=5)
    shapes = jax.tree.map(lambda a: a.shape, nn.unbox(jax.eval_shape(lambda: _init(model))))
    shapes = shapes["params"]
    assert shapes["encoder"]["conv_0"]["kernel"] == (3, 3, 1, 4)
    assert shapes["encoder"]["conv_1"]["kernel"] == (3, 3, 4, 8)
    assert shapes["encoder"]["code"]["kernel"] == (2 * 2 * 8, 5)  # 8 -> 4 -> 2 pixels a side
    assert shapes["decoder"]["project"]["kernel"] == (5, 2 * 2 * 8)
    assert shapes["decoder"]["deconv_1"]["kernel"] == (3, 3, 8, 4)
    assert shapes["decoder"]["deconv_0"]["kernel"] == (3, 3, 4, 1)
    with pytest.raises(ValueError, match=r"image_size=28 must be divisible by 2 \*\* num_conv"):
        _init(make("conv", image_size=28, num_conv_layers=3))


def test_code_activations_and_top_k():
    x = _images(Config(), 5)
    sig = make("classic", hidden_dim=8, latent_dim=12, code_activation="sigmoid")
    params = nn.unbox(_init(sig)["params"])
    linear = make("classic", hidden_dim=8, latent_dim=12).apply({"params": params}, x)["code"]
    np.testing.assert_allclose(sig.apply({"params": params}, x)["code"], jax.nn.sigmoid(linear))
    relu = make("classic", hidden_dim=8, latent_dim=12, code_activation="relu")
    np.testing.assert_array_equal(relu.apply({"params": params}, x)["code"], np.maximum(linear, 0))
    k = make("top_k", hidden_dim=8, latent_dim=12, top_k=3)
    params = _random_params(k)
    z = np.asarray(k.apply({"params": params}, x)["code"])
    np.testing.assert_array_equal((z != 0).sum(-1), 3)  # exactly k active units per image
    dense = make("top_k", hidden_dim=8, latent_dim=12, top_k=0).apply({"params": params}, x)["code"]
    kept = z != 0
    np.testing.assert_array_equal(z[kept], np.asarray(dense)[kept])  # kept values unchanged
    assert (np.sort(np.asarray(dense), -1)[:, -3][:, None] <= np.where(kept, dense, np.inf)).all()


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"Unknown architecture 'mlp'; choose one of"):
        make(architecture="mlp")
    with pytest.raises(ValueError, match=r"top_k=20 must lie in \[0, latent_dim=16\]"):
        make(top_k=20)
    with pytest.raises(ValueError, match=r"Unknown code_activation 'tanh'"):
        make(code_activation="tanh")
    model = make("classic")
    shapes = nn.unbox(jax.eval_shape(lambda: _init(model))["params"])  # no eager init: fast
    params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    with pytest.raises(ValueError, match=r"images must be \[B, 8, 8, 1\] .* got shape \(2, 64\)"):
        model.apply({"params": params}, np.zeros((2, 64), np.float32))
