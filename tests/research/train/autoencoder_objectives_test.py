"""Tests for research/train/autoencoder_objectives.py: each setting reaches its term (beta weights
only the KL, kl_weight and l1_weight add their penalties exactly), and an objective refuses a model
of the other kind in one sentence. The denoising target and the experiment's wiring of
`config.objective` are tested in tests/experiments/train_autoencoder_test.py."""

import jax
import jax.numpy as jnp
import pytest

from research.models import autoencoder, vae
from research.train.autoencoder_objectives import OBJECTIVES, elbo, reconstruction

IMAGES = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1))
WEIGHTS = jnp.array([1.0, 1.0, 1.0, 0.0])  # the padding row counts for nothing


def _params(model):
    return model.init(jax.random.key(1), IMAGES)["params"]


def test_beta_weights_only_the_kl_term():
    model = vae.make("digits", hidden_dim=8, latent_dim=3)
    params, rng = _params(model), jax.random.key(2)
    one, metrics, _, inputs = elbo(model, params, IMAGES, rng, WEIGHTS)
    four, _, _, _ = elbo(model, params, IMAGES, rng, WEIGHTS, beta=4.0)
    mean = lambda pair: float(pair[0] / pair[1])
    assert float(one) == pytest.approx(mean(metrics["nelbo"]), rel=1e-6)
    # float32 losses near 45: their difference is exact to ~5e-6 (observed), not to 1e-5 relative
    assert float(four - one) == pytest.approx(3.0 * mean(metrics["kl"]), abs=3e-5)
    assert inputs is IMAGES  # a VAE sees the clean images
    gaussian = vae.make("digits", hidden_dim=8, latent_dim=3, likelihood="gaussian")
    wide, _, _, _ = elbo(gaussian, params, IMAGES, rng, WEIGHTS, decoder_std=1.0)
    narrow, _, _, _ = elbo(gaussian, params, IMAGES, rng, WEIGHTS, decoder_std=0.1)
    assert float(narrow) != float(wide)  # decoder_std reaches the Gaussian likelihood
    with pytest.raises(ValueError, match=r"decoder_std=0.0 must be positive"):
        elbo(gaussian, params, IMAGES, rng, WEIGHTS, decoder_std=0.0)


def test_sparsity_weights_add_their_penalties_exactly():
    model = autoencoder.make("sparse", hidden_dim=8, latent_dim=6)
    params, rng = _params(model), jax.random.key(2)
    plain, _, _, _ = reconstruction(model, params, IMAGES, rng, WEIGHTS)
    kl, metrics, _, _ = reconstruction(model, params, IMAGES, rng, WEIGHTS, kl_weight=0.5)
    sparsity_kl = float(metrics["sparsity_kl"][0] / metrics["sparsity_kl"][1])
    assert float(kl - plain) == pytest.approx(0.5 * sparsity_kl, abs=3e-5) and sparsity_kl > 0
    l1, metrics, _, _ = reconstruction(model, params, IMAGES, rng, WEIGHTS, l1_weight=0.25)
    assert float(l1 - plain) == pytest.approx(0.25 * float(metrics["l1"][0] / 3), abs=3e-5)


def test_an_objective_refuses_a_model_of_the_other_kind():
    ae, v = autoencoder.make("classic", hidden_dim=8), vae.make("digits", hidden_dim=8)
    with pytest.raises(ValueError, match=r"The 'elbo' objective needs a model like .*vae.py"):
        OBJECTIVES["elbo"](ae, _params(ae), IMAGES, jax.random.key(0), WEIGHTS)
    with pytest.raises(ValueError, match=r"'reconstruction' objective needs .*autoencoder.py"):
        OBJECTIVES["reconstruction"](v, _params(v), IMAGES, jax.random.key(0), WEIGHTS)
