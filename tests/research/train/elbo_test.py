"""Tests for research/train/elbo.py: the Gaussian KL's closed form, and the ELBO on a
linear-Gaussian model whose log-likelihood and posterior are known exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from research.train.elbo import elbo, gaussian_kl, reparameterize
from research.train.reconstruction import gaussian_nll


def test_kl_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    mean, logvar = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    np.testing.assert_allclose(gaussian_kl(mean, logvar, mean, logvar), 0.0, atol=1e-6)
    np.testing.assert_array_equal(gaussian_kl(np.zeros((2, 4)), np.zeros((2, 4))), [0.0, 0.0])


def test_kl_hand_value_against_the_standard_normal():
    # KL(N(1, e^1) || N(0, 1)) = 0.5 (e + 1 - 1 - 1) per unit.
    kl = gaussian_kl(jnp.ones((1, 3)), jnp.ones((1, 3)))
    assert float(kl[0]) == pytest.approx(3 * 0.5 * (np.e - 1), rel=1e-6)


def test_closed_form_kl_equals_a_monte_carlo_estimate():
    """Catches a wrong sign or a missing term (e.g. forgetting the prior's variance)."""
    mean, logvar = np.array([0.5, -1.0]), np.array([-0.5, 0.3])
    prior_mean, prior_logvar = np.array([0.2, 0.1]), np.array([0.4, -0.2])
    n = 400_000
    z = reparameterize(
        jax.random.key(0), jnp.broadcast_to(mean, (n, 2)), jnp.broadcast_to(logvar, (n, 2))
    )
    z = np.asarray(z, np.float64)
    log_q = stats.norm.logpdf(z, mean, np.exp(logvar / 2)).sum(-1)
    log_p = stats.norm.logpdf(z, prior_mean, np.exp(prior_logvar / 2)).sum(-1)
    mc = np.mean(log_q - log_p)  # standard error about 0.002 here
    exact = float(gaussian_kl(mean, logvar, prior_mean, prior_logvar))
    assert exact == pytest.approx(mc, abs=0.01)


def test_reparameterize_is_mean_plus_scaled_explicit_noise():
    mean, logvar = jnp.array([[1.0, -2.0]]), jnp.array([[0.0, np.log(4.0)]])
    eps = jax.random.normal(jax.random.key(3), (1, 2))
    np.testing.assert_allclose(
        reparameterize(jax.random.key(3), mean, logvar), mean + jnp.array([1.0, 2.0]) * eps
    )
    grad = jax.grad(lambda m: reparameterize(jax.random.key(3), m, logvar).sum())(mean)
    np.testing.assert_array_equal(grad, [[1.0, 1.0]])  # differentiable in the mean


def test_beta_weights_only_the_kl():
    assert float(elbo(jnp.array([3.0]), jnp.array([2.0]), beta=0.5)[0]) == -4.0
    with pytest.raises(ValueError, match="per-example vectors"):
        elbo(jnp.zeros((2,)), jnp.zeros((2, 3)))


class LinearGaussian:
    """p(z) = N(0, I_2), p(x | z) = N(W z + b, s^2 I_4) with orthogonal columns of W, so that
    p(x) = N(b, W W^T + s^2 I) and the posterior p(z | x) is a diagonal Gaussian."""

    s = 0.5

    def __init__(self):
        q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 2)))
        self.w = q * np.array([1.5, 0.7])  # W^T W = diag(2.25, 0.49)
        self.b = np.array([0.1, -0.2, 0.3, 0.0])
        self.x = np.array([0.8, -0.5, 0.2, 1.1])

    def log_px(self):
        cov = self.w @ self.w.T + self.s**2 * np.eye(4)
        return stats.multivariate_normal(self.b, cov).logpdf(self.x)

    def posterior(self):
        var = 1.0 / (1.0 + np.diag(self.w.T @ self.w) / self.s**2)
        return var * (self.w.T @ (self.x - self.b)) / self.s**2, np.log(var)

    def expected_nll(self, mean, logvar):
        """E_q[-log p(x | z)] in closed form for q = N(mean, diag(exp(logvar)))."""
        resid = self.x - self.w @ mean - self.b
        trace = np.sum(np.square(self.w) * np.exp(logvar))
        return (resid @ resid + trace) / (2 * self.s**2) + 4 * np.log(self.s * np.sqrt(2 * np.pi))

    def elbo(self, mean, logvar):
        nll = np.array([self.expected_nll(mean, logvar)])
        return float(elbo(nll, gaussian_kl(mean[None], logvar[None]))[0])


def test_elbo_equals_log_likelihood_at_the_exact_posterior():
    model = LinearGaussian()
    mean, logvar = model.posterior()
    assert model.elbo(mean, logvar) == pytest.approx(model.log_px(), abs=1e-5)


def test_elbo_bounds_log_likelihood_with_gap_kl_to_the_posterior():
    """log p(x) - ELBO(q) = KL(q || p(z | x)) >= 0 for any q; a wrong KL term breaks the identity."""
    model = LinearGaussian()
    post_mean, post_logvar = model.posterior()
    for shift, scale in [(0.3, 0.0), (0.0, 1.0), (-0.5, -2.0)]:
        mean, logvar = post_mean + shift, post_logvar + scale
        gap = model.log_px() - model.elbo(mean, logvar)
        want = float(gaussian_kl(mean, logvar, post_mean, post_logvar))
        assert gap > 0 and gap == pytest.approx(want, abs=1e-5)


def test_sampled_reconstruction_term_estimates_the_closed_form():
    """The training path (reparameterize + gaussian_nll) estimates E_q[-log p(x|z)] without bias."""
    model = LinearGaussian()
    mean, logvar = model.posterior()
    n = 200_000
    z = reparameterize(
        jax.random.key(5), jnp.broadcast_to(mean, (n, 2)), jnp.broadcast_to(logvar, (n, 2))
    )
    x_mean = np.asarray(z, np.float64) @ model.w.T + model.b
    nll = gaussian_nll(x_mean, np.broadcast_to(model.x, (n, 4)), model.s)
    assert float(jnp.mean(nll)) == pytest.approx(model.expected_nll(mean, logvar), abs=0.02)
