"""The jitted, population-vmapped encode and decode of a model.

Training, metrics and figures all see a population through the same two
jitted functions, so a trained run is encoded once per call for every
member, and the uint8-to-float conversion lives in one place.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax import compiler_options
from betavae_jax import models
from betavae_jax import population

ENCODE_BATCH = 256  # Images per encoder call: bounds activation memory.


def to_float(images: jax.Array, pixel_max: int) -> jax.Array:
  """uint8 batches travel to the device; the float conversion happens here."""
  return images.astype(jnp.float32) / pixel_max


def encode_in_batches(encode: Callable[[np.ndarray], tuple[Any, Any]],
                      images: np.ndarray, batch_size: int = ENCODE_BATCH
                      ) -> tuple[np.ndarray, np.ndarray]:
  """(mean, logvar), each (P, N, D), of many images, a bounded batch at a
  time.

  One call on the metrics' 8k-image chunks would hold gigabytes of conv
  activations; bounded batches keep evaluation within the training memory.
  Every call gets exactly `batch_size` images (a short one is padded): the
  metrics and figures ask for many different counts, and each new shape
  would compile the encoder again.
  """
  parts = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    n = len(chunk)
    if n < batch_size:
      chunk = np.pad(chunk, [(0, batch_size - n)] + [(0, 0)] * (
          chunk.ndim - 1))
    parts.append(tuple(np.asarray(a)[:, :n] for a in encode(chunk)))
  return tuple(np.concatenate(p, axis=1) for p in zip(*parts))


def jitted_population(model: models.BetaVAE, pixel_max: int, *, in_turn: bool
                      ) -> tuple[Callable[..., Any], Callable[..., Any]]:
  """The jitted, member-vmapped encoder and decoder.

  `in_turn` runs members one after another on CPU: pass
  `population.runs_in_turn(config.model)`.

  Returns:
    encode: (params, uint8 images (N, H, W, C)) -> (mean, logvar), each
      (P, N, D).
    decode: (params, latents (P, N, D)) -> decoder outputs (P, N, H, W, C).
  """
  member_encode = lambda p, x: model.apply({"params": p}, x,
                                           method=model.encode)
  member_decode = lambda p, z: model.apply({"params": p}, z,
                                           method=model.decode)
  if in_turn:  # See population.runs_in_turn.
    member_encode = population.in_turn_on_cpu(member_encode)
    member_decode = population.in_turn_on_cpu(member_decode)

  @compiler_options.jit
  def encode(params, images):
    x = to_float(images, pixel_max)
    return jax.vmap(member_encode, in_axes=(0, None))(params, x)

  @compiler_options.jit
  def decode(params, z):
    return jax.vmap(member_decode)(params, z.astype(jnp.float32))
  return encode, decode
