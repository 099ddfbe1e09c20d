"""The beta-VAE objectives as small pure functions.

Log-likelihoods and KL terms are written for one example and vmapped over the
batch; the objectives combine batch-averaged terms. Every objective returns
`(loss, aux)` with the same aux keys, so the beta-VAE (Higgins et al. 2017)
and the controlled-capacity objective (Burgess et al. 2018) differ only in how
they weigh the same terms; beta-TCVAE (Chen et al. 2018) weighs the KL's
three parts (see `kl_decomposition.py`) and adds them to aux.
"""

import jax
import jax.numpy as jnp

from betavae_jax import kl_decomposition

LIKELIHOODS = ("bernoulli", "gaussian")
ACTIVE_KL_NATS = 0.01  # A latent with mean KL above this counts as active.


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
  """log p(x|logits) summed over pixels, via a stable BCE-with-logits.

  softplus(l) - l*x never exponentiates a large positive number, so it
  stays finite where sigmoid-then-log would give -inf, and its gradient is
  sigmoid(l) - x everywhere (l = 0 included). Spelled out as
  max(l, 0) + log1p(exp(-|l|)) it ran several times slower on XLA:CPU
  (docs/performance.md).
  """
  return -jnp.sum(jax.nn.softplus(logits) - logits * x)


def gaussian_log_likelihood(mean: jax.Array, x: jax.Array,
                            std: float) -> jax.Array:
  """log N(x; mean, std^2 I) summed over pixels, with a fixed std."""
  var = jnp.square(std)
  return -0.5 * jnp.sum(jnp.square(x - mean) / var + jnp.log(2 * jnp.pi * var))


def kl_per_dimension(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """Analytic KL(N(mean, exp(logvar)) || N(0, 1)) for each latent dimension."""
  return 0.5 * (jnp.exp(logvar) + jnp.square(mean) - 1.0 - logvar)


def kl_divergence(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """Total KL of a diagonal Gaussian posterior to the standard normal prior."""
  return jnp.sum(kl_per_dimension(mean, logvar))


def log_likelihood(likelihood: str, params: jax.Array, x: jax.Array,
                   gaussian_std: float = 1.0) -> jax.Array:
  """Per-example log p(x|z) for the decoder output `params`."""
  if likelihood == "bernoulli":
    return bernoulli_log_likelihood(params, x)
  if likelihood == "gaussian":
    return gaussian_log_likelihood(params, x, gaussian_std)
  raise ValueError(f"likelihood must be one of {LIKELIHOODS}; "
                   f"got {likelihood!r}.")


def batch_terms(likelihood: str, recon_params: jax.Array, x: jax.Array,
                mean: jax.Array, logvar: jax.Array,
                gaussian_std: float = 1.0) -> dict[str, jax.Array]:
  """Batch means of -log p(x|z), the total KL and the KL per dimension."""
  ll = jax.vmap(lambda p, xi: log_likelihood(likelihood, p, xi, gaussian_std))(
      recon_params, x)
  kl_dims = jax.vmap(kl_per_dimension)(mean, logvar)
  return {
      "recon": -jnp.mean(ll),
      "kl": jnp.mean(jnp.sum(kl_dims, axis=-1)),
      "kl_per_dim": jnp.mean(kl_dims, axis=0),
  }


def beta_vae_objective(terms: dict[str, jax.Array],
                       beta: jax.Array) -> tuple[jax.Array, dict]:
  """Higgins et al.: -E[log p(x|z)] + beta * KL (beta = 1: the plain VAE)."""
  loss = terms["recon"] + beta * terms["kl"]
  return loss, dict(terms, beta=jnp.asarray(beta, jnp.float32))


def capacity_objective(terms: dict[str, jax.Array], gamma: jax.Array,
                       capacity: jax.Array) -> tuple[jax.Array, dict]:
  """Burgess et al.: -E[log p(x|z)] + gamma * |KL - C|, minimal at KL = C."""
  loss = terms["recon"] + gamma * jnp.abs(terms["kl"] - capacity)
  return loss, dict(terms, gamma=jnp.asarray(gamma, jnp.float32),
                    capacity=jnp.asarray(capacity, jnp.float32))


def tcvae_objective(terms: dict[str, jax.Array], z: jax.Array,
                    mean: jax.Array, logvar: jax.Array, dataset_size: int,
                    alpha: jax.Array, beta: jax.Array, gamma: jax.Array,
                    estimator: str = "mss") -> tuple[jax.Array, dict]:
  """Chen et al.: -E[log p(x|z)] + alpha*MI + beta*TC + gamma*dim-KL.

  MI, TC and dim-KL are minibatch estimates from the batch's own samples
  `z` and posteriors, mixing over `dataset_size` images. They sum to the
  sampled KL, so alpha = beta = gamma = 1 is the VAE's negative ELBO in
  expectation; `terms["kl"]` stays the analytic KL, logged as for the
  other objectives.
  """
  parts = kl_decomposition.minibatch_decomposition(z, mean, logvar,
                                                   dataset_size, estimator)
  loss = (terms["recon"] + alpha * parts["mi"] + beta * parts["tc"] +
          gamma * parts["dim_kl"])
  return loss, dict(terms, mi=parts["mi"], tc=parts["tc"],
                    dim_kl=parts["dim_kl"],
                    beta=jnp.asarray(beta, jnp.float32))
