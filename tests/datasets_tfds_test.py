"""Other tfds datasets: the errors without TensorFlow, cropping, Shapes3D.

Real tfds data needs TensorFlow and a download, so only the parts that do
not are tested here.
"""

import importlib.util

import numpy as np
import pytest

from betavae_jax import datasets
from betavae_jax.datasets import tfds_images

HAS_TF = importlib.util.find_spec("tensorflow") is not None


def test_unknown_name_lists_the_choices():
  with pytest.raises(datasets.DataError) as error:
    tfds_images.check_name("shapes3")
  message = str(error.value)
  assert "Unknown dataset 'shapes3'" in message
  assert "['dsprites', 'synthetic']" in message
  assert "shapes3d" in message  # The close match.


@pytest.mark.skipif(HAS_TF, reason="TensorFlow is installed")
def test_tfds_name_without_tensorflow_says_what_to_install():
  with pytest.raises(datasets.DataError, match=r"pip install -e '\.\[tf\]'"):
    tfds_images.check_name("mnist")


@pytest.mark.parametrize("shape, size", [((28, 28, 1), 64), ((218, 178, 3), 64),
                                         ((64, 64, 3), 64), ((80, 60, 1), 32)])
def test_crop_resize_gives_squares(shape, size):
  image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
  out = tfds_images.crop_resize(image, size)
  assert out.shape == (size, size, shape[2])
  assert out.dtype == np.uint8
  if shape[:2] == (size, size):
    np.testing.assert_array_equal(out, image)


def test_crop_keeps_the_centre():
  image = np.zeros((90, 30, 1), np.uint8)
  image[30:60] = 255  # The centred 30x30 square is all lit.
  np.testing.assert_array_equal(tfds_images.crop_resize(image, 30), 255)


class IndexImages:
  """Record r's image holds r, to check which record was read."""

  image_shape = (1, 1, 1)

  def __len__(self):
    return 480_000

  def read(self, indices):
    return np.asarray(indices).reshape(-1, 1, 1, 1)


def test_shapes3d_maps_factors_to_shuffled_records():
  truth = tfds_images.Shapes3D(IndexImages(), _grid_labels(seed=0)[0])
  labels, order = _grid_labels(seed=0)
  records = np.array([3, 479_999, 123_456])
  np.testing.assert_array_equal(
      truth.images_from_factors(labels[records]).ravel(), records)
  assert truth.factor_sizes == (10, 10, 10, 8, 4, 15)
  assert order.size == truth.num_examples


def test_shapes3d_rejects_incomplete_labels():
  labels, _ = _grid_labels(seed=1)
  labels[5] = labels[6]
  with pytest.raises(ValueError, match="every grid cell once"):
    tfds_images.Shapes3D(IndexImages(), labels)


def _grid_labels(seed: int):
  """Labels of the full grid in a random record order."""
  sizes = (10, 10, 10, 8, 4, 15)
  order = np.random.default_rng(seed).permutation(int(np.prod(sizes)))
  return np.stack(np.unravel_index(order, sizes), axis=1), order
