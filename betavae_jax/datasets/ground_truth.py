"""The ground-truth data interface shared by training, metrics and plots.

A ground-truth dataset is a full factorial grid of generative factors, each
combination rendered to exactly one image. Indices run over the grid in
row-major order (the last factor fastest), as in the official dSprites file.
Images are uint8 NHWC; `pixel_max` is the value of a fully lit pixel (1 for
dSprites, 255 for photographs), so the model's float conversion happens on
device as `x / pixel_max`.
"""

import abc
from collections.abc import Sequence

import numpy as np


class GroundTruthData(abc.ABC):
  """A factorial dataset whose generative factors are known."""

  name: str
  factor_names: tuple[str, ...]
  factor_sizes: tuple[int, ...]
  image_shape: tuple[int, int, int]
  pixel_max: int

  @property
  def num_factors(self) -> int:
    return len(self.factor_sizes)

  @property
  def num_examples(self) -> int:
    return int(np.prod(self.factor_sizes))

  @property
  def factor_bases(self) -> np.ndarray:
    """Index strides of each factor (the last factor has stride 1)."""
    sizes = np.asarray(self.factor_sizes, dtype=np.int64)
    return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])

  def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
    """Maps (N, K) factor classes to their (N,) grid indices."""
    factors = np.asarray(factors, dtype=np.int64)
    _check_factor_range(factors, self.factor_sizes)
    return factors @ self.factor_bases

  def index_to_factors(self, index: np.ndarray) -> np.ndarray:
    """Maps (N,) grid indices to their (N, K) factor classes."""
    index = np.asarray(index, dtype=np.int64)
    if np.any(index < 0) or np.any(index >= self.num_examples):
      raise ValueError(
          f"{self.name}: indices must lie in [0, {self.num_examples}).")
    return (index[:, None] // self.factor_bases) % np.asarray(
        self.factor_sizes)

  def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draws (n, K) factor classes uniformly and independently."""
    return np.stack(
        [rng.integers(0, size, n) for size in self.factor_sizes], axis=1)

  @abc.abstractmethod
  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    """Returns the (N, H, W, C) uint8 images of (N, K) factor classes."""

  def images_from_indices(self, index: np.ndarray) -> np.ndarray:
    """Returns the (N, H, W, C) uint8 images at grid indices."""
    return self.images_from_factors(self.index_to_factors(index))


def _check_factor_range(factors: np.ndarray, sizes: Sequence[int]) -> None:
  """Rejects factor classes outside the grid, naming the factor."""
  if factors.ndim != 2 or factors.shape[1] != len(sizes):
    raise ValueError(
        f"factors must have shape (N, {len(sizes)}); got {factors.shape}.")
  for k, size in enumerate(sizes):
    column = factors[:, k]
    if column.size and (column.min() < 0 or column.max() >= size):
      raise ValueError(f"factor {k} classes must lie in [0, {size}).")
