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
from PIL import Image, ImageSequence

from betavae_jax.datasets import dsprites_render

OFFICIAL = (pathlib.Path(__file__).resolve().parents[1].parent / "shared" /
            "dsprites_official" / "dsprites.gif")
SHAPES = ("square", "ellipse", "heart")
# Frames per shape in the animation, and the most pixels any of them may
# differ from its rendered image.
FRAMES = {"square": 64, "ellipse": 64, "heart": 192}
MAX_DIFFERING_PIXELS = {"square": 0, "ellipse": 0, "heart": 2}


def official_frames() -> np.ndarray:
  """(320, 64, 64) uint8 {0, 1}: the animation's frames, sprite lit."""
  if not OFFICIAL.is_file():
    pytest.skip(f"official dSprites frames not found at {OFFICIAL}: put the "
                "dataset's published dsprites.gif there to compare against.")
  with Image.open(OFFICIAL) as gif:
    frames = np.stack([np.asarray(frame.convert("L"))
                       for frame in ImageSequence.Iterator(gif)])
  return (frames > 127).astype(np.uint8)


def swept_cells() -> np.ndarray:
  """(510, 5) factors the animation visits: per shape, every scale at the
  origin, every orientation at scale 1, every position on the border."""
  x, y = np.divmod(np.arange(32 * 32), 32)
  on_border = (x % 31 == 0) | (y % 31 == 0)
  border = np.stack([x[on_border], y[on_border]], 1)
  cells = []
  for shape in range(3):
    cells += [(shape, scale, 0, 0, 0) for scale in range(6)]
    cells += [(shape, 5, orientation, 0, 0) for orientation in range(40)]
    cells += [(shape, 5, 0, x, y) for x, y in border]
  return np.array(cells)


def identify(frames: np.ndarray):
  """Each frame's nearest rendered cell: (factors (N, 5), differing (N,))."""
  frames = frames.reshape(-1, 64 * 64).astype(np.int32)
  cells = swept_cells()
  rendered = dsprites_render.render(cells).reshape(-1, 64 * 64).astype(
      np.int32)
  # Hamming distance between every frame and every candidate.
  distance = (frames.sum(1)[:, None] + rendered.sum(1)[None] -
              2 * frames @ rendered.T)
  nearest = distance.argmin(1)
  return cells[nearest], distance[np.arange(len(frames)), nearest]


def summary(render=dsprites_render.render) -> str:
  """Per shape, how far `render` is from the frames identified above."""
  frames = official_frames()
  factors, _ = identify(frames)
  differing = (render(factors)[..., 0] != frames).sum((1, 2))
  lines = []
  for shape, name in enumerate(SHAPES):
    d = differing[factors[:, 0] == shape]
    lines.append(f"{name}: {d.size} frames, {np.sum(d > 0)} differ, "
                 f"{d.min()}-{d.max()} px each, {d.sum()} px in all")
  return "\n".join(lines)


@pytest.fixture(name="matches", scope="module")
def fixture_matches():
  """Per frame: its identified factors and how many pixels differ."""
  return identify(official_frames())


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
