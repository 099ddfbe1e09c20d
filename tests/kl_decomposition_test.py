"""The KL decomposition's estimators against exact and closed-form values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from betavae_jax import kl_decomposition
from betavae_jax import losses


def _posteriors(n: int, d: int, spread: float, logvar: float, seed: int = 0):
  rng = np.random.default_rng(seed)
  mean = (spread * rng.standard_normal((n, d))).astype(np.float32)
  lv = (logvar + 0.3 * rng.standard_normal((n, d))).astype(np.float32)
  return mean, lv


def _samples(mean, logvar, seed: int = 1):
  rng = np.random.default_rng(seed)
  return (mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape)
          ).astype(np.float32)


def _brute_force(z, mean, logvar, data_mean, data_logvar):
  """log q(z|x), log q(z), sum_j log q(z_j), log p(z) by explicit sums."""
  pair = np.asarray(kl_decomposition.log_normal(
      z[:, None].astype(np.float64), data_mean[None], data_logvar[None]))
  n = len(data_mean)
  return {"log_qz_x": np.asarray(kl_decomposition.log_normal(
              z, mean, logvar)).sum(-1),
          "log_qz": special.logsumexp(pair.sum(-1), axis=1) - math.log(n),
          "log_qz_marginals": (special.logsumexp(pair, axis=1) -
                               math.log(n)).sum(-1),
          "log_pz": np.asarray(kl_decomposition.log_normal(z, 0., 0.)).sum(-1)}


@pytest.mark.parametrize("estimator", kl_decomposition.ESTIMATORS)
def test_terms_telescope_to_the_sampled_kl(estimator):
  mean, logvar = _posteriors(64, 5, 1.0, -1.0)
  z = _samples(mean, logvar)
  parts = kl_decomposition.minibatch_decomposition(z, mean, logvar, 1000,
                                                   estimator)
  total = parts["mi"] + parts["tc"] + parts["dim_kl"]
  assert float(total) == pytest.approx(float(parts["kl_mc"]), abs=1e-4)


def test_dataset_terms_sum_to_the_analytic_kl():
  mean, logvar = _posteriors(3000, 4, 1.0, -1.5)
  parts = kl_decomposition.dataset_decomposition(jax.random.key(0), mean,
                                                 logvar, data_chunk=1000)
  total = parts["mi"] + parts["tc"] + parts["dim_kl"]
  assert total == pytest.approx(parts["kl_mc"], abs=1e-3)
  kl = np.sum(np.asarray(losses.kl_per_dimension(mean, logvar)), axis=-1)
  # The Monte-Carlo KL's own spread: sd of log q(z|x) - log p(z) ~ 2 nats.
  assert total == pytest.approx(float(kl.mean()), abs=4 * 2.5 / math.sqrt(3000))


def test_dataset_estimator_matches_brute_force_over_chunks():
  mean, logvar = _posteriors(500, 3, 1.0, -1.0)
  key = jax.random.key(3)
  # Chunks that do not divide 500 exercise the padding and its mask.
  parts = kl_decomposition.dataset_decomposition(
      key, mean, logvar, num_samples=300, sample_chunk=64, data_chunk=128)
  pick_key, noise_key = jax.random.split(key)
  idx = np.asarray(jax.random.permutation(pick_key, 500))[:300]
  eps = np.asarray(jax.random.normal(noise_key, (300, 3)))
  z = mean[idx] + np.exp(0.5 * logvar[idx]) * eps
  exact = _brute_force(z, mean[idx], logvar[idx], mean, logvar)
  assert parts["mi"] == pytest.approx(
      np.mean(exact["log_qz_x"] - exact["log_qz"]), abs=1e-4)
  assert parts["tc"] == pytest.approx(
      np.mean(exact["log_qz"] - exact["log_qz_marginals"]), abs=1e-4)
  assert parts["num_images"] == 500 and parts["num_samples"] == 300


@pytest.mark.parametrize("logvar", [-8.0, -1.0, 1.0])
@pytest.mark.slow
def test_mutual_information_lies_in_zero_to_log_n(logvar):
  mean, lv = _posteriors(400, 3, 1.0, logvar)
  parts = kl_decomposition.dataset_decomposition(jax.random.key(1), mean, lv)
  assert 0.0 <= parts["mi"] <= math.log(400) + 1e-4
  # Minibatch MSS: its own image's weight 1/N caps every sample at log N,
  # even where posteriors do not overlap (one D-fold weight would not).
  z = _samples(mean, lv)
  mss = kl_decomposition.minibatch_decomposition(z[:50], mean[:50], lv[:50],
                                                 400, "mss")
  assert float(mss["mi"]) <= math.log(400) + 1e-4
  mws = kl_decomposition.minibatch_decomposition(z[:50], mean[:50], lv[:50],
                                                 400, "mws")
  assert float(mws["mi"]) <= math.log(50) + 1e-4


def test_tc_vanishes_for_independent_latents():
  # Every combination of two factors, each latent reading one factor only:
  # the aggregate posterior factorises exactly, so TC = 0.
  a, b = np.meshgrid(np.linspace(-2, 2, 40), np.linspace(-2, 2, 40))
  mean = np.stack([a.ravel(), np.sin(b.ravel())], axis=1).astype(np.float32)
  logvar = np.full_like(mean, -3.0)
  parts = kl_decomposition.dataset_decomposition(jax.random.key(0), mean,
                                                 logvar)
  assert abs(parts["tc"]) < 0.03
  assert parts["mi"] > 1.0  # The codes do carry information.


def test_tc_matches_the_gaussian_closed_form_for_correlated_latents():
  rho, var = 0.9, 0.05
  rng = np.random.default_rng(0)
  cov = np.array([[1.0, rho], [rho, 1.0]])
  mean = rng.multivariate_normal([0, 0], cov, size=3000).astype(np.float32)
  logvar = np.full_like(mean, math.log(var))
  # q(z) is then close to N(0, cov + var I), whose TC is closed form.
  c = cov + var * np.eye(2)
  expected = 0.5 * (np.sum(np.log(np.diag(c))) - np.log(np.linalg.det(c)))
  parts = kl_decomposition.dataset_decomposition(jax.random.key(0), mean,
                                                 logvar)
  assert expected > 0.6
  assert parts["tc"] == pytest.approx(expected, abs=0.1)


def test_importance_weights_sit_on_each_samples_own_index():
  w = np.exp(np.asarray(kl_decomposition.log_importance_weights("mss", 8,
                                                                100)))
  np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(np.diag(w), 1 / 100, rtol=1e-6)
  off = w[~np.eye(8, dtype=bool)]
  np.testing.assert_allclose(off, 99 / 100 / 7, rtol=1e-6)
  mws = np.exp(np.asarray(kl_decomposition.log_importance_weights("mws", 8,
                                                                  100)))
  np.testing.assert_allclose(mws, 1 / 8, rtol=1e-6)


@pytest.mark.parametrize("estimator", kl_decomposition.ESTIMATORS)
def test_permuting_the_batch_permutes_the_estimates(estimator):
  mean, logvar = _posteriors(16, 3, 1.0, -2.0)
  z = _samples(mean, logvar)
  perm = np.random.default_rng(0).permutation(16)
  out = kl_decomposition.minibatch_log_densities(z, mean, logvar, 200,
                                                 estimator)
  permuted = kl_decomposition.minibatch_log_densities(
      z[perm], mean[perm], logvar[perm], 200, estimator)
  for k in out:
    np.testing.assert_allclose(np.asarray(permuted[k]),
                               np.asarray(out[k])[perm], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("estimator", kl_decomposition.ESTIMATORS)
def test_whole_dataset_batch_is_exact(estimator):
  mean, logvar = _posteriors(500, 3, 1.0, -1.0)
  z = _samples(mean, logvar)
  out = kl_decomposition.minibatch_log_densities(z, mean, logvar, 500,
                                                 estimator)
  exact = _brute_force(z, mean, logvar, mean, logvar)
  for k in out:
    np.testing.assert_allclose(np.asarray(out[k]), exact[k], rtol=1e-4,
                               atol=1e-3)


def test_minibatch_expectations_against_brute_force():
  # For a sample of image 0, average the density estimates over random
  # batches of its image plus M - 1 others: MSS is unbiased for q(z), MWS
  # gives its own image weight 1/M, exactly as derived.
  n, m, reps = 500, 16, 4000
  mean, logvar = _posteriors(n, 3, 1.0, -1.0)
  z0 = _samples(mean[:1], logvar[:1])
  rng = np.random.default_rng(0)
  others = np.stack([rng.choice(np.arange(1, n), m - 1, replace=False)
                     for _ in range(reps)])
  batches = np.concatenate([np.zeros((reps, 1), int), others], axis=1)

  def estimate(estimator, batch):
    means, logvars = jnp.asarray(mean)[batch], jnp.asarray(logvar)[batch]
    z = jnp.concatenate([z0, means[1:]])  # Only row 0's z matters.
    return kl_decomposition.minibatch_log_densities(z, means, logvars, n,
                                                    estimator)
  exact = _brute_force(z0, mean[:1], logvar[:1], mean, logvar)
  own = np.exp(exact["log_qz_x"][0])
  q = np.exp(exact["log_qz"][0])
  rest = (n * q - own) / (n - 1)  # Mean density under the other images.
  mws_density = own / m + rest * (m - 1) / m
  for estimator, expected in (("mss", q), ("mws", mws_density)):
    f = jax.jit(jax.vmap(lambda b, e=estimator: estimate(e, b)["log_qz"][0]))
    draws = np.exp(np.asarray(f(batches)))
    # pytest.approx takes only Python numbers as tolerances (pytest >= 9.2).
    se = float(draws.std()) / math.sqrt(reps)
    assert draws.mean() == pytest.approx(expected, abs=4 * se)


@pytest.mark.slow
def test_mss_and_mws_agree_in_expectation_with_overlapping_posteriors():
  # Broad posteriors (a strongly regularised encoder): the own image's
  # weight hardly matters, and both estimators, averaged over batches,
  # give the full-dataset terms.
  n, m = 500, 64
  mean, logvar = _posteriors(n, 3, 0.5, 0.0)
  z = _samples(mean, logvar)
  rng = np.random.default_rng(0)
  runs = {e: [] for e in kl_decomposition.ESTIMATORS}
  for _ in range(40):
    b = rng.choice(n, m, replace=False)
    for e in runs:
      parts = kl_decomposition.minibatch_decomposition(z[b], mean[b],
                                                       logvar[b], n, e)
      runs[e].append([float(parts[k]) for k in ("mi", "tc", "dim_kl")])
  mss, mws = (np.mean(runs[e], axis=0) for e in ("mss", "mws"))
  np.testing.assert_allclose(mss, mws, atol=0.03)
  exact = _brute_force(z, mean, logvar, mean, logvar)
  full = [np.mean(exact["log_qz_x"] - exact["log_qz"]),
          np.mean(exact["log_qz"] - exact["log_qz_marginals"]),
          np.mean(exact["log_qz_marginals"] - exact["log_pz"])]
  np.testing.assert_allclose(mss, full, atol=0.05)


def test_bad_arguments_fail_clearly():
  with pytest.raises(ValueError, match="estimator must be one of"):
    kl_decomposition.log_importance_weights("bad", 4, 10)
  with pytest.raises(ValueError, match="smaller than the batch"):
    kl_decomposition.log_importance_weights("mss", 4, 2)
  with pytest.raises(ValueError, match="at least 2"):
    kl_decomposition.log_importance_weights("mss", 1, 10)


def test_active_units_count_latents_whose_mean_varies():
  rng = np.random.default_rng(0)
  mean = np.stack([rng.standard_normal(1000), 0.01 * rng.standard_normal(
      1000), np.zeros(1000)], axis=1)
  assert kl_decomposition.active_units(mean) == 1
