"""The IWAE bound on a linear-Gaussian model whose log p(x) is closed form.

p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I), so p(x) = N(b, WW^T + s^2 I) and
the exact posterior is Gaussian; q is a deliberately imperfect diagonal
Gaussian, so the bound is loose at K = 1 and tightens with K.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from betavae_jax import iwae
from betavae_jax import kl_decomposition

S = 0.5
W = np.array([[1.0, 0.5], [-0.3, 0.8], [0.6, -0.4]])
B = np.array([0.2, -0.1, 0.3])


def _model(n: int, seed: int = 0, shift: float = 0.3, widen: float = 0.5):
  """Images x, their exact log p(x), and an imperfect posterior q(z|x):
  the true one's mean shifted by `shift`, its log variance by `widen`."""
  rng = np.random.default_rng(seed)
  z = rng.standard_normal((n, 2))
  x = z @ W.T + B + S * rng.standard_normal((n, 3))
  log_px = stats.multivariate_normal(B, W @ W.T + S**2 * np.eye(3)).logpdf(x)
  post_cov = np.linalg.inv(np.eye(2) + W.T @ W / S**2)
  post_mean = (x - B) @ W @ post_cov / S**2
  mean = post_mean + shift
  logvar = np.log(np.diag(post_cov)) + widen + np.zeros_like(mean)
  return x, log_px, post_mean, post_cov, mean, logvar


@jax.jit
def _log_px_z(z, x):
  """z (C, N, 2) -> log N(x; Wz + b, s^2 I), (C, N)."""
  ll = kl_decomposition.log_normal(x, z @ W.T + B, 2 * math.log(S))
  return jnp.sum(ll, axis=-1)


def _closed_form_elbo(log_px, post_mean, post_cov, mean, logvar):
  """log p(x) - KL(q(z|x) || p(z|x)) for Gaussians."""
  var = np.exp(logvar)
  inv = np.linalg.inv(post_cov)
  diff = post_mean - mean
  kl = 0.5 * (np.einsum("nd,de,ne->n", diff, inv, diff) +
              np.sum(np.diag(inv) * var, axis=-1) - 2 +
              np.log(np.linalg.det(post_cov)) - np.sum(logvar, axis=-1))
  return log_px - kl


def test_one_sample_is_the_elbo_estimate():
  x, log_px, post_mean, post_cov, mean, logvar = _model(4000)
  key = jax.random.key(0)
  bound = np.asarray(iwae.iwae_bound(key, mean, logvar, _log_px_z, x,
                                     num_samples=1))
  eps = jax.random.normal(jax.random.fold_in(key, 0), (1,) + mean.shape)
  z = mean + np.exp(0.5 * logvar) * eps
  one = iwae.log_weights(_log_px_z(z, x), z, mean, logvar)[0]
  np.testing.assert_allclose(bound, np.asarray(one), rtol=1e-5, atol=1e-5)
  elbo = _closed_form_elbo(log_px, post_mean, post_cov, mean, logvar)
  se = float(np.std(bound - elbo)) / math.sqrt(len(x))
  assert np.mean(bound) == pytest.approx(np.mean(elbo), abs=4 * se)
  assert np.mean(elbo) < np.mean(log_px) - 0.1  # The bound is loose here.


def _gaps(ks, **model_args):
  """Mean log p(x) - L_K over 500 images, for each K."""
  x, log_px, *_, mean, logvar = _model(500, **model_args)
  return [np.mean(log_px - np.asarray(iwae.iwae_bound(
      jax.random.key(k), mean, logvar, _log_px_z, x, num_samples=k,
      chunk_size=16)))
          for k in ks]  # Chunks of 16 compile once for every K > 1.


def test_bound_rises_with_k():
  # A narrow, shifted q: the bound tightens slowly, by far more than its
  # standard error (<= 0.08 nats at 500 images) at each step.
  gaps = _gaps((1, 16, 128, 2048), shift=0.6, widen=-0.5)
  assert all(a > b + 0.15 for a, b in zip(gaps, gaps[1:]))


def test_bound_converges_to_log_px():
  first, last = _gaps((1, 2048))
  assert first > 0.5
  assert abs(last) < 0.01


@pytest.mark.slow
def test_chunks_of_any_size_give_the_same_bound_in_expectation():
  x, log_px, *_, mean, logvar = _model(500, seed=1)
  whole = iwae.iwae_bound(jax.random.key(0), mean, logvar, _log_px_z, x,
                          200, 200)
  ragged = iwae.iwae_bound(jax.random.key(1), mean, logvar, _log_px_z, x,
                           200, 64)
  assert float(jnp.mean(whole)) == pytest.approx(float(jnp.mean(ragged)),
                                                 abs=0.01)


def test_bad_sample_counts_fail_clearly():
  with pytest.raises(ValueError, match="must be >= 1"):
    iwae.iwae_bound(jax.random.key(0), jnp.zeros((1, 2)), jnp.zeros((1, 2)),
                    lambda z, _: z.sum(-1), num_samples=0)
