"""What the figures show, as arrays: pixels, codes, traversals, responses.

Pure functions of the encode and decode callables (see the package
docstring) and of fixed arrays; the images, prior samples and
factor-response samples are fixed by `Options.seed`, so pictures from
different steps and runs compare.
"""

from collections.abc import Callable
import dataclasses
from typing import Any

import jax
import numpy as np

from betavae_jax import encode_decode
from betavae_jax import input_pipeline
from betavae_jax import losses
from betavae_jax.datasets import ground_truth as ground_truth_lib

EncodeFn = Callable[[np.ndarray], tuple[Any, Any]]
DecodeFn = Callable[[np.ndarray], Any]


@dataclasses.dataclass(frozen=True)
class Options:
  """What the figures show; the defaults suit 64x64 dSprites."""

  num_traversal_images: int = 3  # Seed images, the first of `images`.
  traversal_range: tuple[float, float] = (-3.0, 3.0)
  traversal_steps: int = 9
  num_reconstructions: int = 8
  num_samples: int = 16
  response_samples: int = 16  # Images averaged per factor value.
  seed: int = 0  # Fixes the prior samples and the response images.
  batch_size: int = 64  # Images per encode/decode call: bounds memory.
  panels_per_row: int = 4  # Population members per row of panels.
  gif_frame_ms: int = 150


def to_pixels(outputs: Any, likelihood: str) -> np.ndarray:
  """Decoder outputs as [0, 1] pixels: sigmoid of logits, clipped means."""
  if likelihood == "bernoulli":
    return np.asarray(jax.nn.sigmoid(np.asarray(outputs, np.float32)))
  if likelihood == "gaussian":
    return np.clip(np.asarray(outputs, np.float32), 0.0, 1.0)
  raise ValueError(f"likelihood must be one of {losses.LIKELIHOODS}; "
                   f"got {likelihood!r}.")


def decode_batched(decode: DecodeFn, z: np.ndarray,
                   batch_size: int) -> np.ndarray:
  """Decoder outputs (P, N, H, W, C) of latents (P, N, D), in batches."""
  return np.concatenate([np.asarray(decode(z[:, i:i + batch_size]))
                         for i in range(0, z.shape[1], batch_size)], axis=1)


def latent_kl(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
  """(P, D) KL of each latent to the prior, averaged over the images."""
  return np.asarray(losses.kl_per_dimension(mean, logvar)).mean(axis=1)


def kl_order(kl: np.ndarray) -> np.ndarray:
  """(P, D) latent indices of each member, largest KL first."""
  return np.argsort(-kl, axis=1, kind="stable")


def traversal_values(options: Options) -> np.ndarray:
  """The (K,) values every traversed latent takes, the same at every step."""
  lo, hi = options.traversal_range
  return np.linspace(lo, hi, options.traversal_steps, dtype=np.float32)


def traverse(decode: DecodeFn, mean: np.ndarray, order: np.ndarray,
             values: np.ndarray, batch_size: int = 64) -> np.ndarray:
  """Decodes each latent swept over `values`, the others at the mean.

  Args:
    decode: latents (P, N, D) -> decoder outputs (P, N, H, W, C).
    mean: (P, S, D) posterior means of S seed images.
    order: (P, D) the latent of each row, per member.
    values: (K,) the values the row's latent takes.
    batch_size: latents per decode call.

  Returns:
    (P, S, D, K, H, W, C) decoder outputs; row r sweeps latent order[p, r].
  """
  p, s, d = mean.shape
  k = len(values)
  z = np.repeat(mean[:, :, None, None, :], d, axis=2).repeat(k, axis=3)
  pi, si, ri, ki = np.ix_(range(p), range(s), range(d), range(k))
  z[pi, si, ri, ki, order[pi, ri]] = values[ki]
  out = decode_batched(decode, z.reshape(p, s * d * k, d), batch_size)
  return out.reshape((p, s, d, k) + out.shape[2:])


def prior_latents(num: int, latent_dim: int, seed: int) -> np.ndarray:
  """The fixed (num, D) draw from N(0, I) that every sample grid decodes."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((num, latent_dim)).astype(np.float32)


def factor_response(
    encode: EncodeFn, data: ground_truth_lib.GroundTruthData, samples: int,
    seed: int, batch_size: int = 64) -> tuple[list[str], list[np.ndarray]]:
  """Mean code of every latent at every value of every varying factor.

  For factor k and class v, `samples` images with factor k = v and the
  other factors drawn at random (fixed by `seed`) are encoded and their
  posterior means averaged.

  Returns:
    The names of the factors with more than one class and, per factor, a
    (P, num_classes, D) array of mean codes.
  """
  rng = np.random.default_rng(seed)
  varying = [k for k, size in enumerate(data.factor_sizes) if size > 1]
  factors = []
  for k in varying:
    size = data.factor_sizes[k]
    drawn = data.sample_factors(size * samples, rng)
    drawn[:, k] = np.repeat(np.arange(size), samples)
    factors.append(drawn)
  mean, _ = encode_decode.encode_in_batches(
      encode, data.images_from_factors(np.concatenate(factors)), batch_size)
  bounds = np.cumsum([len(f) for f in factors])[:-1]
  responses = [m.reshape(m.shape[0], -1, samples, m.shape[-1]).mean(axis=2)
               for m in np.split(mean, bounds, axis=1)]
  return [data.factor_names[k] for k in varying], responses


def fixed_images(dataset: input_pipeline.Dataset, num: int,
                 seed: int = 0) -> np.ndarray:
  """The same `num` uint8 images at every call, drawn with `seed`.

  Held-out images where the run has them, so reconstructions show
  generalisation; else training images. Drawn at random rather than taken
  first, since a factor grid's first images all share one shape.
  """
  pool = (dataset.eval_indices if len(dataset.eval_indices) else
          dataset.train_indices)
  rng = np.random.default_rng(seed)
  return dataset.source.read(rng.choice(pool, num, replace=num > len(pool)))
