"""A tiny synthetic ground-truth dataset for tests and smoke runs.

3,072 binary 32x32 images of one blob, from four factors: shape (square,
disc, diamond: the unit balls of the L-inf, L2 and L1 norms), scale (4) and
x, y position (16 each). The whole grid renders in memory in a few
milliseconds, so every test can train, evaluate and score disentanglement
without a prepared dataset.
"""

import numpy as np

from betavae_jax.datasets import ground_truth

_SIZE = 32
_NORMS = (np.inf, 2, 1)  # square, disc, diamond
_RADII = np.linspace(3.0, 6.0, 4)  # px
# On pixel edges, so each blob is symmetric; the largest stays inside.
_CENTRES = np.arange(8.0, 24.0)


class Synthetic(ground_truth.GroundTruthData):
  """shape x scale x pos_x x pos_y = 3 x 4 x 16 x 16 blobs, 32x32x1."""

  name = "synthetic"
  factor_names = ("shape", "scale", "pos_x", "pos_y")
  factor_sizes = (len(_NORMS), len(_RADII), len(_CENTRES), len(_CENTRES))
  image_shape = (_SIZE, _SIZE, 1)
  pixel_max = 1

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    """(N, 4) factor classes -> (N, 32, 32, 1) uint8 images in {0, 1}."""
    factors = np.asarray(factors, dtype=np.int64)
    self.factors_to_index(factors)  # Rejects classes off the grid.
    centres = np.arange(_SIZE) + 0.5
    dx = np.abs(centres - _CENTRES[factors[:, 2], None])[:, None, :]
    dy = np.abs(centres - _CENTRES[factors[:, 3], None])[:, :, None]
    radius = _RADII[factors[:, 1]][:, None, None]
    images = np.zeros((len(factors), _SIZE, _SIZE), np.uint8)
    for shape, norm in enumerate(_NORMS):
      rows = factors[:, 0] == shape
      if norm == np.inf:
        dist = np.maximum(dx[rows], dy[rows])
      else:
        dist = (dx[rows]**norm + dy[rows]**norm)**(1 / norm)
      images[rows] = dist <= radius[rows]
    return images[..., None]
