"""The dSprites rasteriser against the geometry of docs/dsprites.md."""

import numpy as np
import pytest

from betavae_jax.datasets import dsprites_render

SQUARE, ELLIPSE, HEART = 0, 1, 2
PIXEL_CENTRES = np.arange(64) + 0.5


def all_positions(shape: int, scale: int, orientation: int) -> np.ndarray:
  """(1024, 5) factors: one sprite at every (pos_x, pos_y)."""
  pos_x, pos_y = np.divmod(np.arange(1024), 32)
  return np.stack([np.full(1024, shape), np.full(1024, scale),
                   np.full(1024, orientation), pos_x, pos_y], axis=1)


def bbox_sizes(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(widths, heights) in px of the lit pixels of each image."""
  def extent(lit):  # (N, 64) bool -> (N,)
    return 64 - lit[:, ::-1].argmax(1) - lit.argmax(1)
  return extent(images[..., 0].any(1)), extent(images[..., 0].any(2))


def centroids(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(x, y) pixel centroids, in continuous coordinates."""
  lit = images[..., 0].astype(float)
  area = lit.sum((1, 2))
  return ((lit * PIXEL_CENTRES).sum((1, 2)) / area,
          (lit * PIXEL_CENTRES[:, None]).sum((1, 2)) / area)


def nominal_centres(factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  return 16 + 32 * factors[:, 3] / 31, 16 + 32 * factors[:, 4] / 31


def test_count_dtype_and_binary_values():
  factors = np.random.default_rng(0).integers(
      0, dsprites_render.FACTOR_SIZES, (500, 5))
  images = dsprites_render.render(factors)
  assert images.shape == (500, 64, 64, 1)
  assert images.dtype == np.uint8
  assert set(np.unique(images)) == {0, 1}
  assert images.sum((1, 2, 3)).min() > 40  # Every sprite is drawn.


def test_pure_and_independent_of_batching():
  factors = np.random.default_rng(1).integers(
      0, dsprites_render.FACTOR_SIZES, (5000, 5))
  batch = dsprites_render.render(factors)
  np.testing.assert_array_equal(batch[4321:4324],
                                dsprites_render.render(factors[4321:4324]))
  np.testing.assert_array_equal(batch, dsprites_render.render(factors))


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE])
@pytest.mark.parametrize("orientation", [0, 7, 23])
def test_centre_is_16_plus_32_pos(shape, orientation):
  factors = all_positions(shape, 5, orientation)
  cx, cy = centroids(dsprites_render.render(factors))
  ex, ey = nominal_centres(factors)
  # A discrete symmetric sprite's centroid sits within half a pixel.
  assert np.abs(cx - ex).max() <= 0.5
  assert np.abs(cy - ey).max() <= 0.5
  assert np.abs(np.mean(cx - ex)) < 0.05


def test_heart_centroid_sits_two_px_above_centre():
  factors = all_positions(HEART, 5, 0)
  cx, cy = centroids(dsprites_render.render(factors))
  ex, ey = nominal_centres(factors)
  assert np.mean(cx - ex) == pytest.approx(0, abs=0.05)
  assert np.mean(ey - cy) == pytest.approx(2.0, abs=0.3)


@pytest.mark.parametrize("scale", range(6))
def test_square_side_is_20_scale_where_the_centre_is_on_a_pixel_edge(scale):
  factors = all_positions(SQUARE, scale, 0)
  widths, heights = bbox_sizes(dsprites_render.render(factors))
  side = round(20 * dsprites_render.SCALES[scale])
  # pos 0 and 31 put the centre on a pixel edge, as in the official frames;
  # the side is a little under 20 * scale, so elsewhere it covers one pixel
  # centre fewer where the centre falls near the middle of a pixel.
  on_edge = np.isin(factors[:, 3], (0, 31)), np.isin(factors[:, 4], (0, 31))
  np.testing.assert_array_equal(widths[on_edge[0]], side)
  np.testing.assert_array_equal(heights[on_edge[1]], side)
  assert set(widths) == set(heights) == {side - 1, side}


@pytest.mark.parametrize("shape, scale, width, height", [
    (ELLIPSE, 0, 12, 8), (ELLIPSE, 5, 26, 14),
    (HEART, 0, 10, 9), (HEART, 5, 20, 17),
])
def test_bounding_boxes_at_the_origin_as_in_the_official_frames(
    shape, scale, width, height):
  factors = all_positions(shape, scale, 0)
  widths, heights = bbox_sizes(dsprites_render.render(factors))
  assert (widths[0], heights[0]) == (width, height)  # pos (0, 0).
  # Elsewhere the sub-pixel position changes them by a pixel or two, as it
  # does in the official position sweeps.
  assert np.ptp(widths) <= 1 and np.ptp(heights) <= 2


def test_square_at_45_degrees_spans_26_px():
  widths, heights = bbox_sizes(
      dsprites_render.render(all_positions(SQUARE, 5, 5)))  # 46 degrees.
  assert np.abs(widths - 26).max() <= 1
  assert np.abs(heights - 26).max() <= 1


@pytest.mark.parametrize("shape, a, b", [(SQUARE, 0, 10), (ELLIPSE, 0, 20)])
def test_symmetric_orientations_agree_up_to_rasterisation(shape, a, b):
  first = dsprites_render.render(all_positions(shape, 5, a))
  second = dsprites_render.render(all_positions(shape, 5, b))
  differ = (first != second).sum((1, 2, 3))
  area = first.sum((1, 2, 3))
  assert np.all(differ <= 0.1 * area)
  # A quarter turn less (class 5, 46 degrees) is clearly another image.
  other = dsprites_render.render(all_positions(shape, 5, 5))
  assert np.all((first != other).sum((1, 2, 3)) > 0.1 * area)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_orientation_classes_0_and_39_identical(shape):
  np.testing.assert_array_equal(
      dsprites_render.render(all_positions(shape, 3, 0)),
      dsprites_render.render(all_positions(shape, 3, 39)))


def test_sprites_stay_two_pixels_clear_of_the_canvas_edge():
  factors = np.concatenate([all_positions(s, 5, o)
                            for s in range(3) for o in range(0, 40, 3)])
  lit = dsprites_render.render(factors)[..., 0].any(0)
  rows, cols = np.flatnonzero(lit.any(1)), np.flatnonzero(lit.any(0))
  # The rotated square's corners reach rows and columns 2 and 61.
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 61, 2, 61)


def test_rejects_factors_off_the_grid():
  with pytest.raises(ValueError, match="factor 2"):
    dsprites_render.render(np.array([[0, 0, 40, 0, 0]]))
  with pytest.raises(ValueError, match="shape"):
    dsprites_render.render(np.zeros((3, 6), int))
