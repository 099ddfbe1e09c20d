"""Tests of the likelihoods, KL terms and objectives against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import losses


def test_kl_matches_monte_carlo():
  mean = jnp.array([0.5, -1.0, 2.0])
  logvar = jnp.array([0.1, -0.7, 0.4])
  eps = jax.random.normal(jax.random.key(0), (400_000, 3))
  z = mean + jnp.exp(0.5 * logvar) * eps
  log_q = -0.5 * (eps**2 + logvar + jnp.log(2 * jnp.pi))
  log_p = -0.5 * (z**2 + jnp.log(2 * jnp.pi))
  mc = jnp.mean(log_q - log_p, axis=0)
  np.testing.assert_allclose(losses.kl_per_dimension(mean, logvar), mc,
                             atol=0.02)
  assert losses.kl_divergence(mean, logvar) == pytest.approx(
      float(jnp.sum(losses.kl_per_dimension(mean, logvar))))


def test_kl_is_zero_at_prior():
  assert losses.kl_divergence(jnp.zeros(4), jnp.zeros(4)) == 0.0


def test_bernoulli_matches_direct_formula():
  logits = jnp.array([-3.0, -0.5, 0.0, 0.7, 4.0])
  x = jnp.array([0.0, 1.0, 1.0, 0.0, 1.0])
  p = jax.nn.sigmoid(logits)
  direct = jnp.sum(x * jnp.log(p) + (1 - x) * jnp.log(1 - p))
  assert losses.bernoulli_log_likelihood(logits, x) == pytest.approx(
      float(direct), rel=1e-5)


def test_bernoulli_finite_for_large_logits():
  logits = jnp.array([-1e4, 1e4, 300.0, -300.0])
  x = jnp.array([1.0, 0.0, 1.0, 0.0])
  ll = losses.bernoulli_log_likelihood(logits, x)
  assert np.isfinite(ll)
  assert ll == pytest.approx(-2e4, rel=1e-6)
  grad = jax.grad(losses.bernoulli_log_likelihood)(logits, x)
  assert np.all(np.isfinite(grad))


def test_bernoulli_gradient_is_sigmoid_minus_x():
  """Everywhere, a logit of exactly 0 included (where max and abs kink)."""
  logits = jnp.array([-30.0, -2.0, 0.0, 0.0, 3.0, 40.0])
  x = jnp.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
  grad = jax.grad(losses.bernoulli_log_likelihood)(logits, x)
  np.testing.assert_allclose(grad, x - jax.nn.sigmoid(logits), atol=1e-6)


def test_gaussian_matches_density():
  mean, x, std = jnp.array([0.2, 0.4]), jnp.array([0.0, 1.0]), 0.5
  direct = jnp.sum(jax.scipy.stats.norm.logpdf(x, mean, std))
  assert losses.gaussian_log_likelihood(mean, x, std) == pytest.approx(
      float(direct), rel=1e-6)


def _terms():
  return {"recon": jnp.array(10.0), "kl": jnp.array(3.0),
          "kl_per_dim": jnp.array([2.0, 1.0])}


def test_beta_zero_and_one():
  assert losses.beta_vae_objective(_terms(), 0.0)[0] == 10.0
  assert losses.beta_vae_objective(_terms(), 1.0)[0] == 13.0  # -ELBO.
  loss, aux = losses.beta_vae_objective(_terms(), 4.0)
  assert loss == 22.0 and aux["beta"] == 4.0 and aux["kl"] == 3.0


def test_capacity_minimised_at_kl_equal_c():
  kls = jnp.linspace(0.0, 10.0, 101)
  loss = jax.vmap(lambda kl: losses.capacity_objective(
      dict(_terms(), kl=kl), 1000.0, 4.0)[0])(kls)
  assert kls[jnp.argmin(loss)] == pytest.approx(4.0)
  assert jnp.min(loss) == pytest.approx(10.0, abs=1e-3)


def test_batch_terms_average_over_batch():
  x = jnp.ones((2, 3, 3, 1))
  logits = jnp.zeros((2, 3, 3, 1))
  mean = jnp.array([[0.0, 1.0], [0.0, 3.0]])
  logvar = jnp.zeros((2, 2))
  terms = losses.batch_terms("bernoulli", logits, x, mean, logvar)
  assert terms["recon"] == pytest.approx(9 * np.log(2), rel=1e-6)
  np.testing.assert_allclose(terms["kl_per_dim"], [0.0, 2.5])
  assert terms["kl"] == pytest.approx(2.5)


def test_unknown_likelihood():
  with pytest.raises(ValueError, match="bernoulli"):
    losses.log_likelihood("poisson", jnp.zeros(2), jnp.zeros(2))


def _tcvae_batch(key, n=32, d=4):
  mean = 0.8 * jax.random.normal(key, (n, d))
  logvar = jnp.full((n, d), -1.0)
  terms = {"recon": jnp.array(10.0),
           "kl": jnp.mean(jax.vmap(losses.kl_divergence)(mean, logvar)),
           "kl_per_dim": jnp.zeros(d)}
  return terms, mean, logvar


@pytest.mark.parametrize("estimator", ["mss", "mws"])
@pytest.mark.slow
def test_tcvae_with_unit_weights_is_the_negative_elbo_in_expectation(
    estimator):
  terms, mean, logvar = _tcvae_batch(jax.random.key(0))

  def loss(key):
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    value, aux = losses.tcvae_objective(terms, z, mean, logvar, 1000, 1.0,
                                        1.0, 1.0, estimator)
    return value, aux["mi"] + aux["tc"] + aux["dim_kl"]
  values, parts = jax.vmap(loss)(jax.random.split(jax.random.key(1), 500))
  np.testing.assert_allclose(values, terms["recon"] + parts, rtol=1e-6)
  negative_elbo = float(terms["recon"] + terms["kl"])
  se = float(jnp.std(values)) / np.sqrt(len(values))
  assert float(jnp.mean(values)) == pytest.approx(negative_elbo, abs=4 * se)
  assert se < 0.05  # The check is tight, not vacuous.


@pytest.mark.slow
def test_tcvae_weighs_each_part_by_its_own_coefficient():
  terms, mean, logvar = _tcvae_batch(jax.random.key(2))
  z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(jax.random.key(3),
                                                      mean.shape)
  _, aux = losses.tcvae_objective(terms, z, mean, logvar, 1000, 1.0, 1.0,
                                  1.0)
  for weights, part in (((1.0, 0.0, 0.0), "mi"), ((0.0, 1.0, 0.0), "tc"),
                        ((0.0, 0.0, 1.0), "dim_kl")):
    loss, _ = losses.tcvae_objective(terms, z, mean, logvar, 1000, *weights)
    assert float(loss) == pytest.approx(float(10.0 + aux[part]), rel=1e-6)
  loss, aux6 = losses.tcvae_objective(terms, z, mean, logvar, 1000, 1.0, 6.0,
                                      1.0)
  assert float(loss) == pytest.approx(float(
      10.0 + aux["mi"] + 6 * aux["tc"] + aux["dim_kl"]), rel=1e-5)
  assert aux6["beta"] == 6.0 and aux6["kl"] == terms["kl"]
