"""The official dSprites animation's frames, placed on the factor grid.

The animation published with the official dataset (`dsprites.gif`, 320
binary 64x64 frames taken from the dataset) sweeps, per shape, the six
scales at the origin, the forty orientations at scale 1 and the positions
along the border. Identified on the grid, its frames are a small sample of
the official pixels that ships without the 2.6 GB file: the renderer is
checked against them (docs/dsprites.md), and trained models are scored on
them beside the rendered images of the same cells.
"""

import os

import numpy as np
from PIL import Image, ImageSequence

from betavae_jax.datasets import dsprites_render

SHAPES = ("square", "ellipse", "heart")  # Classes of the shape factor.


def read(path: str | os.PathLike) -> np.ndarray:
  """(N, 64, 64) uint8 in {0, 1}: the animation's frames, sprite lit."""
  with Image.open(path) as gif:
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


def identify(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Each frame's nearest rendered cell: (factors (N, 5), differing (N,)).

  `differing` counts the pixels in which the frame and that cell's
  rendered image disagree.
  """
  frames = frames.reshape(len(frames), -1).astype(np.int32)
  cells = swept_cells()
  rendered = dsprites_render.render(cells).reshape(len(cells), -1).astype(
      np.int32)
  # Hamming distance between every frame and every candidate.
  distance = (frames.sum(1)[:, None] + rendered.sum(1)[None] -
              2 * frames @ rendered.T)
  nearest = distance.argmin(1)
  return cells[nearest], distance[np.arange(len(frames)), nearest]
