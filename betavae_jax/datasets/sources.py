"""Random-access image sources: what the input pipeline reads batches from.

A source has a length and reads uint8 (B, H, W, C) images at any indices in
one call, so the pipeline works in whole batches and never pays Python costs
per image it could pay per batch.
"""

from typing import Protocol

import numpy as np


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
