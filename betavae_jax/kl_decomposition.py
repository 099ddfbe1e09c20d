"""The KL term split into index-code MI, total correlation and dim-wise KL.

With q(z) = (1/N) sum_n q(z|x_n), the aggregate posterior over the N
training images (Hoffman & Johnson 2016; Chen et al. 2018):

  E_x KL(q(z|x) || p(z)) = MI + TC + dim-KL, where, for z ~ q(z|x_n),
  MI     = E[log q(z|x_n) - log q(z)]          index-code mutual information
  TC     = E[log q(z) - sum_j log q(z_j)]      total correlation of q(z)
  dim-KL = E[sum_j log q(z_j) - log p(z)]      sum_j KL(q(z_j) || p(z_j))

The three telescope, sample by sample, to the Monte-Carlo KL. log q(z) and
log q(z_j) are mixtures over all N images; a train step sees one batch of M,
and two estimators stand in for the mixture:

- 'mws' (minibatch weighted sampling): the batch stands for the dataset,
  q(z_i) ~ (1/M) sum_j q(z_i|x_j). Its own term, weighted 1/M instead of
  1/N, inflates q(z_i) where posteriors barely overlap, so MI <= log M.
- 'mss' (minibatch stratified sampling): sample i keeps its own image at
  its true weight 1/N and the M - 1 other images share (N - 1)/N equally.
  That is unbiased for q(z_i) whenever the others are uniform draws from
  the remaining N - 1 images; it is Chen et al.'s stratification with the
  leftover weight spread over the others instead of put on one of them.

Both are density estimates with every constant in place (Chen et al.'s
code divides the 'mws' mixture by N*M, which shifts the logged MI by
log N), weights sit on each sample's own index (row i, column i), and the
joint density gets its weight once, not once per latent dimension. The
full-dataset estimator (`dataset_decomposition`) evaluates the exact
mixture over every encoded image, chunked so dSprites fits a CPU.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

ESTIMATORS = ("mws", "mss")
ACTIVE_COV = 0.01  # Burda et al. 2016: active if Cov_x(E_q[z|x]) > this.
_LOG_2PI = math.log(2 * math.pi)


def log_normal(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """Elementwise log N(z; mean, exp(logvar))."""
  return -0.5 * (jnp.square(z - mean) * jnp.exp(-logvar) + logvar + _LOG_2PI)


def log_importance_weights(estimator: str, batch_size: int,
                           dataset_size: int) -> jax.Array:
  """(M, M) log weights: [i, j] weighs x_j's posterior in q(z_i).

  Every row sums to one; under 'mss' row i puts 1/N on its own column i.
  """
  m, n = batch_size, dataset_size
  if estimator not in ESTIMATORS:
    raise ValueError(f"estimator must be one of {ESTIMATORS}; got "
                     f"{estimator!r}.")
  if n < m:
    raise ValueError(f"dataset_size {n} is smaller than the batch ({m}).")
  if estimator == "mws":
    return jnp.full((m, m), -math.log(m))
  if m < 2:
    raise ValueError("The 'mss' estimator needs a batch of at least 2.")
  other = math.log(n - 1) - math.log(n) - math.log(m - 1)  # n >= m >= 2.
  return jnp.where(jnp.eye(m, dtype=bool), -math.log(n), other)


def _differences(log_qz_x: jax.Array, log_qz: jax.Array,
                 log_qz_marginals: jax.Array,
                 log_pz: jax.Array) -> dict[str, jax.Array]:
  """MI, TC, dim-KL and their sum from per-sample log densities."""
  return {"mi": jnp.mean(log_qz_x - log_qz),
          "tc": jnp.mean(log_qz - log_qz_marginals),
          "dim_kl": jnp.mean(log_qz_marginals - log_pz),
          "kl_mc": jnp.mean(log_qz_x - log_pz)}


def minibatch_log_densities(z: jax.Array, mean: jax.Array, logvar: jax.Array,
                            dataset_size: int,
                            estimator: str) -> dict[str, jax.Array]:
  """Per-sample log q(z|x), log q(z), sum_j log q(z_j) and log p(z).

  Args:
    z: (M, D) samples, z[i] ~ q(z|x_i).
    mean, logvar: (M, D) posteriors of the batch.
    dataset_size: N, the number of images q(z) mixes over.
    estimator: 'mws' or 'mss'.

  Returns:
    Each entry (M,).
  """
  log_w = log_importance_weights(estimator, z.shape[0], dataset_size)
  pairwise = log_normal(z[:, None, :], mean[None], logvar[None])  # (M, M, D)
  log_qz = jax.nn.logsumexp(log_w + jnp.sum(pairwise, axis=-1), axis=1)
  log_qzj = jax.nn.logsumexp(log_w[:, :, None] + pairwise, axis=1)
  return {"log_qz_x": jnp.sum(log_normal(z, mean, logvar), axis=-1),
          "log_qz": log_qz,
          "log_qz_marginals": jnp.sum(log_qzj, axis=-1),
          "log_pz": jnp.sum(log_normal(z, 0.0, 0.0), axis=-1)}


def minibatch_decomposition(z: jax.Array, mean: jax.Array, logvar: jax.Array,
                            dataset_size: int,
                            estimator: str = "mss") -> dict[str, jax.Array]:
  """Batch estimates of MI, TC, dim-KL and the Monte-Carlo KL they sum to."""
  return _differences(**minibatch_log_densities(z, mean, logvar, dataset_size,
                                                estimator))


@jax.jit
def _mixture_log_densities(z: jax.Array, means: jax.Array,
                           logvars: jax.Array,
                           mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """log sum_n q(z|x_n) and log sum_n q(z_j|x_n), scanning data chunks.

  z is (S, D); means, logvars (C, B, D) and mask (C, B) hold the data in C
  chunks of B, so memory stays at S*B*D whatever N is.
  """
  def add_chunk(carry, chunk):
    joint, marginal = carry
    mu, lv, valid = chunk
    # log_normal with the per-image factors hoisted out of the (S, B, D)
    # block, and padding masked by a -inf offset.
    offset = jnp.where(valid[:, None], -0.5 * (lv + _LOG_2PI), -jnp.inf)
    pair = offset - 0.5 * jnp.square(z[:, None, :] - mu) * jnp.exp(-lv)
    joint = jnp.logaddexp(joint, jax.nn.logsumexp(pair.sum(-1), axis=1))
    marginal = jnp.logaddexp(marginal, jax.nn.logsumexp(pair, axis=1))
    return (joint, marginal), None
  init = (jnp.full(z.shape[:1], -jnp.inf), jnp.full(z.shape, -jnp.inf))
  (joint, marginal), _ = jax.lax.scan(add_chunk, init, (means, logvars, mask))
  return joint, marginal


def _chunked(a: np.ndarray, size: int, fill: float = 0.0) -> np.ndarray:
  """Pads axis 0 to a multiple of `size` and splits it into chunks."""
  pad = -len(a) % size
  a = np.concatenate([a, np.full((pad,) + a.shape[1:], fill, a.dtype)])
  return a.reshape((-1, size) + a.shape[1:])


def dataset_decomposition(key: jax.Array, mean: np.ndarray, logvar: np.ndarray,
                          num_samples: int | None = None,
                          sample_chunk: int = 256,
                          data_chunk: int = 4096) -> dict[str, float]:
  """MI, TC and dim-KL with q(z) the exact mixture over all given images.

  As in Chen et al.'s evaluation: z is drawn from the posteriors of
  `num_samples` images chosen without replacement (all of them, once each,
  when None), and each log q(z) sums over every image, own one included.

  Args:
    key: the sample noise (and the choice of images).
    mean, logvar: (N, D) posteriors of the N images q(z) mixes over.
    num_samples: how many z to average over; default N.
    sample_chunk, data_chunk: block sizes; memory is their product times D.

  Returns:
    mi, tc, dim_kl, kl_mc (their sum), and the image and sample counts.
  """
  mean = np.asarray(mean, np.float32)
  logvar = np.asarray(logvar, np.float32)
  n = len(mean)
  s = n if num_samples is None else min(num_samples, n)
  pick_key, noise_key = jax.random.split(key)
  idx = np.asarray(jax.random.permutation(pick_key, n))[:s]
  eps = np.asarray(jax.random.normal(noise_key, (s, mean.shape[1])))
  z = mean[idx] + np.exp(0.5 * logvar[idx]) * eps
  data_chunk = min(data_chunk, n)
  means, logvars = _chunked(mean, data_chunk), _chunked(logvar, data_chunk)
  mask = _chunked(np.ones(n, bool), data_chunk, fill=False)
  joint, marginal = [], []
  for start in range(0, s, sample_chunk):
    block = z[start:start + sample_chunk]
    # Padded to the full chunk so every call has the compiled shape.
    padded = _chunked(block, sample_chunk)[0]
    j, m = _mixture_log_densities(padded, means, logvars, mask)
    joint.append(np.asarray(j)[:len(block)])
    marginal.append(np.asarray(m)[:len(block)])
  log_n = math.log(n)
  terms = _differences(
      log_qz_x=np.sum(log_normal(z, mean[idx], logvar[idx]), axis=-1),
      log_qz=np.concatenate(joint) - log_n,
      log_qz_marginals=np.sum(np.concatenate(marginal) - log_n, axis=-1),
      log_pz=np.sum(log_normal(z, 0.0, 0.0), axis=-1))
  out = {k: float(v) for k, v in terms.items()}
  return dict(out, num_images=n, num_samples=s)


def active_units(mean: np.ndarray) -> int:
  """Burda et al.'s count: dimensions whose posterior mean varies over x."""
  return int(np.sum(np.var(np.asarray(mean), axis=0) > ACTIVE_COV))
