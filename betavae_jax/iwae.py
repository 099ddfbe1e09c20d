"""The importance-weighted bound on log p(x) (Burda et al. 2016).

  log p(x) >= L_K = log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),
  z_k ~ q(z|x) i.i.d.

L_1 is the one-sample ELBO estimate, E[L_K] rises with K and L_K tends to
log p(x), so a large K (1000 by default, as in Burda et al.) measures the
model's likelihood rather than how well the encoder fits it. Samples are
drawn `chunk_size` at a time and folded into a running logsumexp, so
memory stays that of one chunk whatever K is.
"""

from collections.abc import Callable
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from betavae_jax import kl_decomposition

DEFAULT_NUM_SAMPLES = 1000


def log_weights(log_px_z: jax.Array, z: jax.Array, mean: jax.Array,
                logvar: jax.Array) -> jax.Array:
  """log p(x|z) + log p(z) - log q(z|x), for z (..., D) and log_px_z (...)."""
  log_pz = jnp.sum(kl_decomposition.log_normal(z, 0.0, 0.0), axis=-1)
  log_qz_x = jnp.sum(kl_decomposition.log_normal(z, mean, logvar), axis=-1)
  return log_px_z + log_pz - log_qz_x


def iwae_bound(key: jax.Array, mean: jax.Array, logvar: jax.Array,
               log_px_z_fn: Callable[[jax.Array, Any], jax.Array],
               context: Any = None, num_samples: int = DEFAULT_NUM_SAMPLES,
               chunk_size: int = 100) -> jax.Array:
  """L_K for every posterior in `mean`, `logvar`.

  Args:
    key: the sample noise; chunk c draws from fold_in(key, c).
    mean, logvar: (..., D) posteriors, any leading axes (members, images).
    log_px_z_fn: (z (C, ..., D), context) -> log p(x|z) (C, ...), the
      decoder's likelihood of each image under each of the C samples.
    context: what `log_px_z_fn` needs besides z (parameters, images). The
      function is called outside any jit, so it may be (or call) a jitted
      function of its own with compiler options.
    num_samples: K.
    chunk_size: samples per call of `log_px_z_fn`.

  Returns:
    L_K, shaped like mean.shape[:-1].
  """
  if num_samples < 1 or chunk_size < 1:
    raise ValueError(f"num_samples ({num_samples}) and chunk_size "
                     f"({chunk_size}) must be >= 1.")
  mean, logvar = jnp.asarray(mean), jnp.asarray(logvar)
  total = jnp.full(mean.shape[:-1], -jnp.inf)
  for c, start in enumerate(range(0, num_samples, chunk_size)):
    size = min(chunk_size, num_samples - start)
    z = _draw(jax.random.fold_in(key, c), mean, logvar, size)
    total = _fold(total, log_px_z_fn(z, context), z, mean, logvar)
  return total - math.log(num_samples)


@functools.partial(jax.jit, static_argnums=3)
def _draw(key: jax.Array, mean: jax.Array, logvar: jax.Array,
          size: int) -> jax.Array:
  """`size` samples of every posterior, (size, ..., D)."""
  eps = jax.random.normal(key, (size,) + mean.shape, mean.dtype)
  return mean + jnp.exp(0.5 * logvar) * eps


@jax.jit
def _fold(total: jax.Array, log_px_z: jax.Array, z: jax.Array,
          mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """Adds a chunk's importance weights to the running logsumexp."""
  chunk = log_weights(log_px_z, z, mean, logvar)
  return jnp.logaddexp(total, jax.nn.logsumexp(chunk, axis=0))
