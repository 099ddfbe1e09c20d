"""The tiny synthetic ground-truth dataset the test suite trains on."""

import time

import numpy as np
import pytest

from betavae_jax.datasets import synthetic


def test_whole_grid_is_fast_binary_and_distinct():
  data = synthetic.Synthetic()
  start = time.perf_counter()
  images = data.images_from_indices(np.arange(data.num_examples))
  assert time.perf_counter() - start < 1.0
  assert data.num_examples == 3 * 4 * 16 * 16
  assert images.shape == (3072, 32, 32, 1)
  assert images.dtype == np.uint8
  assert set(np.unique(images)) == {0, 1}
  assert len(np.unique(images.reshape(3072, -1), axis=0)) == 3072


def test_factors_move_the_blob():
  data = synthetic.Synthetic()
  factors = data.sample_factors(200, np.random.default_rng(0))
  lit = data.images_from_factors(factors)[..., 0].astype(float)
  centres = np.arange(32) + 0.5
  area = lit.sum((1, 2))
  x = (lit * centres).sum((1, 2)) / area
  y = (lit * centres[:, None]).sum((1, 2)) / area
  expected = np.arange(8, 24)
  np.testing.assert_allclose(x, expected[factors[:, 2]], atol=0.01)
  np.testing.assert_allclose(y, expected[factors[:, 3]], atol=0.01)
  same_place = factors.copy()
  same_place[:, 1] = 3
  bigger = data.images_from_factors(same_place).sum((1, 2, 3))
  assert np.all(bigger >= area)  # Scale 3 is the largest.


def test_rejects_classes_off_the_grid():
  with pytest.raises(ValueError, match="factor 1"):
    synthetic.Synthetic().images_from_factors(np.array([[0, 4, 0, 0]]))
