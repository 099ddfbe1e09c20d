"""The offline renderer against official dSprites frames, pixel for pixel.

`shared/dsprites_official/dsprites.gif` (beside the repository) is the
animation published with the official dataset: 320 binary 64x64 frames taken
from it, sweeping per shape the scale, the orientation and the position. Each
frame is identified as its nearest rendered image among the cells those
sweeps visit, and the pixels that still differ are pinned per shape, so the
renderer can only get closer (docs/dsprites.md has the figures).
"""

import pathlib

import numpy as np
import pytest

from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import official_frames

OFFICIAL = (pathlib.Path(__file__).resolve().parents[1].parent / "shared" /
            "dsprites_official" / "dsprites.gif")
SHAPES = official_frames.SHAPES
# Frames per shape in the animation, and the most pixels any of them may
# differ from its rendered image.
FRAMES = {"square": 64, "ellipse": 64, "heart": 192}
MAX_DIFFERING_PIXELS = {"square": 0, "ellipse": 0, "heart": 2}


def frames() -> np.ndarray:
  """(320, 64, 64) uint8 {0, 1}: the animation's frames, or a clean skip."""
  if not OFFICIAL.is_file():
    pytest.skip(f"official dSprites frames not found at {OFFICIAL}: put the "
                "dataset's published dsprites.gif there to compare against.")
  return official_frames.read(OFFICIAL)


def summary(render=dsprites_render.render) -> str:
  """Per shape, how far `render` is from the frames identified above."""
  official = frames()
  factors, _ = official_frames.identify(official)
  differing = (render(factors)[..., 0] != official).sum((1, 2))
  lines = []
  for shape, name in enumerate(SHAPES):
    d = differing[factors[:, 0] == shape]
    lines.append(f"{name}: {d.size} frames, {np.sum(d > 0)} differ, "
                 f"{d.min()}-{d.max()} px each, {d.sum()} px in all")
  return "\n".join(lines)


@pytest.fixture(name="matches", scope="module")
def fixture_matches():
  """Per frame: its identified factors and how many pixels differ."""
  return official_frames.identify(frames())


def test_the_animation_has_its_documented_frames(matches):
  factors, _ = matches
  assert len(factors) == sum(FRAMES.values())
  for shape, name in enumerate(SHAPES):
    assert np.sum(factors[:, 0] == shape) == FRAMES[name]
  # It opens with hearts at the origin growing through the six scales.
  np.testing.assert_array_equal(factors[:6, 1], range(6))
  assert np.all(factors[:6, 0] == 2) and not factors[:6, 2:].any()


@pytest.mark.parametrize("name", SHAPES)
def test_rendered_images_match_the_official_frames(matches, name):
  factors, differing = matches
  shape_differing = differing[factors[:, 0] == SHAPES.index(name)]
  assert shape_differing.max() <= MAX_DIFFERING_PIXELS[name], (
      f"{name}: up to {shape_differing.max()} pixels differ per frame "
      f"({shape_differing.sum()} over {shape_differing.size} frames)")
