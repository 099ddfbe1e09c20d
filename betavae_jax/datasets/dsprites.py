"""dSprites as ground-truth data: its factor grid, latents and images.

The five factors are those of disentanglement_lib's `dsprites_full`
(the constant color factor dropped); grid indices are those of the official
file, since color has a single class. The official file's six latent columns
(color included) are rebuilt from the factors so the prepared dataset keeps
the official fields whichever source made it.
"""

import numpy as np

from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import ground_truth
from betavae_jax.datasets import sources

NUM_EXAMPLES = 737_280
OFFICIAL_FACTOR_SIZES = (1, 3, 6, 40, 32, 32)  # color first.


class DSprites(ground_truth.GroundTruthData):
  """dSprites; images are rendered on demand unless a source is given.

  Given the `images` of a prepared dataset in grid order (the official file
  or the rendered one), `images_from_factors` reads them, so metrics and plots
  see exactly the data the model was trained on.
  """

  name = "dsprites"
  factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")
  factor_sizes = dsprites_render.FACTOR_SIZES
  image_shape = (64, 64, 1)
  pixel_max = 1

  def __init__(self, images: sources.ImageSource | None = None):
    if images is not None and len(images) != self.num_examples:
      raise ValueError(f"dSprites needs {self.num_examples} images in grid "
                       f"order; the source has {len(images)}.")
    self._images = images

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    """(N, 5) factor classes -> (N, 64, 64, 1) uint8 images in {0, 1}."""
    if self._images is None:
      return dsprites_render.render(factors)
    return self._images.read(self.factors_to_index(factors))


class RenderedSource:
  """Every dSprites image by grid index, drawn on demand by the renderer.

  Nothing to prepare or hold: for pictures and scores of a trained model
  where a prepared dataset is not at hand (a fresh notebook). Training
  reads the prepared records, which are these same images.
  """

  image_shape = DSprites.image_shape

  def __len__(self) -> int:
    return NUM_EXAMPLES

  def read(self, indices: np.ndarray) -> np.ndarray:
    return dsprites_render.render(DSprites().index_to_factors(indices))


def official_classes(factors: np.ndarray) -> np.ndarray:
  """(N, 5) factor classes -> the official (N, 6) latents_classes."""
  factors = np.asarray(factors, dtype=np.int64)
  return np.concatenate([np.zeros_like(factors[:, :1]), factors], axis=1)


def official_values(factors: np.ndarray) -> np.ndarray:
  """(N, 5) factor classes -> the official (N, 6) float64 latents_values.

  color 1; shape 1, 2, 3; scale, orientation and positions on their grids.
  """
  factors = np.asarray(factors, dtype=np.int64)
  return np.stack([
      np.ones(len(factors)),
      factors[:, 0] + 1.0,
      dsprites_render.SCALES[factors[:, 1]],
      dsprites_render.ORIENTATIONS[factors[:, 2]],
      dsprites_render.POSITIONS[factors[:, 3]],
      dsprites_render.POSITIONS[factors[:, 4]],
  ], axis=1)
