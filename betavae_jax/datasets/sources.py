"""Random-access image sources: what the input pipeline reads batches from.

A source has a length and reads uint8 (B, H, W, C) images at any indices in
one call, so the pipeline works in whole batches and never pays Python costs
per image it could pay per batch.
"""

import math
from typing import Protocol

import numpy as np

from betavae_jax.datasets import errors
from betavae_jax.datasets import prefetch

_HOLD_BLOCK = 8192  # Images per read while filling memory.


class ImageSource(Protocol):
  """Images addressable by index; `read` returns a new uint8 array."""

  image_shape: tuple[int, int, int]

  def __len__(self) -> int:
    ...

  def read(self, indices: np.ndarray) -> np.ndarray:
    ...


class ArraySource:
  """Images held in memory (the small synthetic data)."""

  def __init__(self, images: np.ndarray):
    if images.dtype != np.uint8 or images.ndim != 4:
      raise ValueError(f"images must be uint8 (N, H, W, C); got "
                       f"{images.dtype} {images.shape}.")
    self._images = images
    self.image_shape = tuple(images.shape[1:])

  def __len__(self) -> int:
    return len(self._images)

  def read(self, indices: np.ndarray) -> np.ndarray:
    return self._images[np.asarray(indices, dtype=np.int64)]


class PackedBitsSource:
  """Binary images held in memory, eight pixels to a byte (all of dSprites
  in 360 MiB, against 2.8 GiB as uint8)."""

  def __init__(self, bits: np.ndarray, image_shape: tuple[int, int, int]):
    self._bits = bits
    self.image_shape = tuple(image_shape)

  def __len__(self) -> int:
    return len(self._bits)

  def read(self, indices: np.ndarray) -> np.ndarray:
    rows = self._bits[np.asarray(indices, dtype=np.int64)]
    pixels = np.unpackbits(rows, axis=1, count=math.prod(self.image_shape))
    return pixels.reshape((len(rows),) + self.image_shape)


def _held_row_bytes(image_shape: tuple[int, ...], binary: bool) -> int:
  """Bytes of one held image: a bit per pixel if `binary`, else a byte."""
  size = math.prod(image_shape)
  return -(-size // 8) if binary else size


def held_bytes(source: ImageSource, binary: bool) -> int:
  """Host memory that `hold_in_memory(source, binary, ...)` fills."""
  return len(source) * _held_row_bytes(source.image_shape, binary)


def hold_in_memory(source: ImageSource, binary: bool,
                   num_threads: int) -> ImageSource:
  """Every image of `source`, read once into host memory.

  A record source costs tens of microseconds of host time per image
  (decompressing and parsing; more reader threads barely help); where one
  model's step takes about a millisecond, as on a GPU, that host time
  bounds the training loop (docs/performance.md). From memory a batch
  costs microseconds.

  Args:
    source: any image source.
    binary: pack pixels as bits (images in {0, 1}, like dSprites).
    num_threads: reader threads.

  Raises:
    DataError: `binary` and a pixel other than 0 or 1.
  """
  n, shape = len(source), tuple(source.image_shape)
  size = math.prod(shape)
  out = np.empty((n, _held_row_bytes(shape, binary)) if binary
                 else (n,) + shape, np.uint8)
  starts = range(0, n, _HOLD_BLOCK)
  blocks = prefetch.ordered_map(
      lambda start: source.read(np.arange(start, min(start + _HOLD_BLOCK, n))),
      starts, num_threads, 2 * num_threads)
  for start, images in zip(starts, blocks):
    if binary:
      if images.max(initial=0) > 1:
        raise errors.DataError(
            f"Images {start}..{start + len(images) - 1} have pixels other "
            f"than 0 and 1; they cannot be held as bits.")
      images = np.packbits(images.reshape(len(images), size), axis=1)
    out[start:start + len(images)] = images
  if binary:
    return PackedBitsSource(out, shape)
  return ArraySource(out)
