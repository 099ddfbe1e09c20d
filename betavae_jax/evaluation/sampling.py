"""Sampling factors, rendering them and encoding them, for every metric.

Metrics draw with numpy, seeded from a JAX key, so a run is reproducible
from one key without threading numpy state through user code. All factors a
metric needs are drawn up front, so its result does not depend on the chunk
size used to render and encode them. A `representation_fn` maps uint8 NHWC
images to (N, D) codes for one model, or to (P, N, D) codes (or a list of P
(N, D) arrays) for a population scored on the same images; codes are
returned as (P, N, D) together with a flag saying which form was given.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax.datasets import ground_truth

RepresentationFn = Callable[[np.ndarray], Any]

# Each metric draws from its own stream, so a metric's result is the same
# whether it runs alone or inside `compute_all`.
STREAMS = {"beta_vae": 0, "factor_vae": 1, "codes": 2, "udr": 3}

DEFAULT_CHUNK_SIZE = 8192


def rng_from_key(key: jax.Array, stream: str) -> np.random.Generator:
  """A numpy Generator seeded by every word of fold_in(key, stream)."""
  key = jax.random.fold_in(key, STREAMS[stream])
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  words = np.asarray(key, dtype=np.uint32).ravel()
  return np.random.default_rng([int(w) for w in words])


def varying_factors(data: ground_truth.GroundTruthData) -> np.ndarray:
  """Indices of the factors with more than one class.

  A constant factor (dSprites' colour) carries no information to recover;
  the published study leaves it out (dsprites_full has five factors).
  """
  return np.flatnonzero(np.asarray(data.factor_sizes) > 1)


def as_population(codes: Any) -> tuple[np.ndarray, bool]:
  """Codes as a (P, N, D) float array, and whether a population was given."""
  if isinstance(codes, (list, tuple)):
    return np.stack([np.asarray(c) for c in codes]), True
  codes = np.asarray(codes)
  if codes.ndim == 2:
    return codes[None], False
  if codes.ndim == 3:
    return codes, True
  raise ValueError(
      f"codes must be (N, D) or (P, N, D); got shape {codes.shape}.")


class CodeCache:
  """A deterministic representation, each grid image encoded at most once.

  At the published sizes the BetaVAE and FactorVAE scores draw about 2.9M
  images, but dSprites has 737,280: most draws repeat an image. With the
  posterior mean (a function of the image), the codes of the images
  already seen are looked up by grid index instead of read and encoded
  again, which cuts most of the reading and encoding. Pass it wherever a
  `representation_fn` goes; use it only for deterministic representations.
  """

  def __init__(self, data: ground_truth.GroundTruthData,
               representation_fn: RepresentationFn,
               limit_bytes: int = 1 << 30):
    self.data = data
    self.representation_fn = representation_fn
    self.limit_bytes = limit_bytes  # Above it, encode every draw instead.
    self._codes = None  # (P, num_examples, D), filled as images are seen.
    self._seen = np.zeros(data.num_examples, bool)
    self._population = False
    self._too_big = False  # Set when the grid's codes exceed the limit.

  def __call__(self, images: np.ndarray) -> Any:
    return self.representation_fn(images)  # Uncached: images lack indices.

  def codes_of(self, factors: np.ndarray, chunk_size: int
               ) -> tuple[np.ndarray, bool]:
    """Codes (P, N, D) of (N, K) factors, encoding only unseen images."""
    if self._too_big:
      return encode_factors(self.data, self.representation_fn, factors,
                            chunk_size)
    index = self.data.factors_to_index(factors)
    new = np.unique(index[~self._seen[index]])
    for start in range(0, len(new), chunk_size):
      rows = new[start:start + chunk_size]
      codes, self._population = as_population(
          self.representation_fn(self.data.images_from_indices(rows)))
      if self._codes is None:
        shape = codes.shape[:1] + (self.data.num_examples,) + codes.shape[2:]
        if np.prod(shape) * codes.itemsize > self.limit_bytes:
          self._too_big = True
          return encode_factors(self.data, self.representation_fn, factors,
                                chunk_size)
        self._codes = np.zeros(shape, codes.dtype)
      self._codes[:, rows] = codes
      self._seen[rows] = True
    return self._codes[:, index], self._population


def encode_factors(data: ground_truth.GroundTruthData,
                   representation_fn: RepresentationFn, factors: np.ndarray,
                   chunk_size: int = DEFAULT_CHUNK_SIZE
                   ) -> tuple[np.ndarray, bool]:
  """Codes (P, N, D) of the images of (N, K) factors, in chunked calls."""
  if isinstance(representation_fn, CodeCache):
    return representation_fn.codes_of(factors, chunk_size)
  parts, population = [], False
  for start in range(0, len(factors), chunk_size):
    images = data.images_from_factors(factors[start:start + chunk_size])
    codes, population = as_population(representation_fn(images))
    parts.append(codes)
  return np.concatenate(parts, axis=1), population


def encode_groups(data: ground_truth.GroundTruthData,
                  representation_fn: RepresentationFn, factors: np.ndarray,
                  statistic: Callable[[np.ndarray], np.ndarray],
                  chunk_size: int = DEFAULT_CHUNK_SIZE
                  ) -> tuple[np.ndarray, bool]:
  """Reduces the codes of (M, G, K) groups of factors to (P, M, D).

  `statistic` maps codes (P, m, G, D) to (P, m, D); groups are encoded
  chunk by chunk so the codes of all M * G images are never held at once.
  """
  num_groups, group, num_factors = factors.shape
  step = max(1, chunk_size // group)
  parts, population = [], False
  for start in range(0, num_groups, step):
    block = factors[start:start + step]
    codes, population = encode_factors(
        data, representation_fn, block.reshape(-1, num_factors),
        chunk_size=block.shape[0] * group)
    parts.append(statistic(codes.reshape(codes.shape[0], block.shape[0],
                                         group, -1)))
  return np.concatenate(parts, axis=1), population


def sample_codes(data: ground_truth.GroundTruthData,
                 representation_fn: RepresentationFn,
                 rng: np.random.Generator, sizes: Sequence[int],
                 chunk_size: int = DEFAULT_CHUNK_SIZE
                 ) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
  """Independent (codes (P, n, D), varying factors (n, K)) for each n."""
  keep = varying_factors(data)
  draws, population = [], False
  for n in sizes:
    factors = data.sample_factors(n, rng)
    codes, population = encode_factors(data, representation_fn, factors,
                                       chunk_size)
    draws.append((codes, factors[:, keep]))
  return draws, population
