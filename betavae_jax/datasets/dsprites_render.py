"""An offline rasteriser of the dSprites factor grid.

The official file cannot always be had (offline machines, CI), so this module
re-renders any dSprites factor combination with the geometry measured from
the official frames (docs/dsprites.md): each shape is a fixed outline, scaled
in proportion to the scale factor, turned counter-clockwise about its nominal
centre 16 + 32 * pos, and sampled at the pixel centres (a pixel is lit when
its centre lies inside), without anti-aliasing. The outlines are a square, an
ellipse and the classic parametric heart; their sizes were fitted so that
the official frames are reproduced (see docs/dsprites.md for how close).

Everything is vectorised numpy over a square window around each sprite,
as small as its scale allows (at most 30x30 of the 64x64 canvas).
Coordinates are float64 so that the images are the same on every machine:
in float32, rounding would decide some pixel centres that lie within a
millionth of a pixel of an outline.
"""

import numpy as np

CANVAS = 64
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
FACTOR_SIZES = (3, 6, 40, 32, 32)

# All sizes are px at scale 1; every shape scales in proportion.
# The square's half side: a 19.196 px square fits every official frame, the
# rotated ones included (a 20 px square with the same corners would not).
_SQUARE_HALF = 9.598
# The ellipse's semi-axes, major axis horizontal at orientation 0.
_ELLIPSE_AXES = (12.766, 7.213)
# The heart is x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t
# (t in [0, 2 pi], y up), stretched by these px per curve unit and with its
# origin this far above the nominal centre.
_HEART_STRETCH = (0.59961, 0.66221)
_HEART_LIFT = 1.43687
# The heart is star-shaped about this point (px above the centre, at scale
# 1), so its outline is tabulated once as a radius per direction from it.
_HEART_POLE = 1.0
_HEART_TABLE = 4096  # Directions tabulated over [0, pi].
# No outline reaches further from its centre than this, the rotated
# square's corner: it sizes each scale's window.
_REACH = _SQUARE_HALF * np.sqrt(2)
_CHUNK = 4096  # Images per vectorised step: bounds the float temporaries.


def _heart_radii() -> np.ndarray:
  """The heart's radius from its pole, per direction from straight up.

  Returns (_HEART_TABLE,) radii at directions linspace(0, pi): the right
  half of the outline (the heart is mirror-symmetric), measured from up.
  """
  t = np.linspace(0.0, np.pi, 1 << 16)
  x = _HEART_STRETCH[0] * 16 * np.sin(t)**3
  y = _HEART_STRETCH[1] * (13 * np.cos(t) - 5 * np.cos(2 * t) -
                           2 * np.cos(3 * t) - np.cos(4 * t))
  y = y + _HEART_LIFT - _HEART_POLE
  direction = np.arctan2(x, y)
  # Star-shaped about the pole: the direction grows along the outline.
  assert np.all(np.diff(direction) > 0)
  return np.interp(np.linspace(0.0, np.pi, _HEART_TABLE), direction,
                   np.hypot(x, y))


_HEART_RADII = _heart_radii()


def render(factors: np.ndarray) -> np.ndarray:
  """Renders (N, 5) factor classes to (N, 64, 64, 1) uint8 images in {0, 1}.

  Args:
    factors: integer classes [shape, scale, orientation, pos_x, pos_y] with
      sizes (3, 6, 40, 32, 32), as in the official file minus color.

  Returns:
    The binary images; a pure function of `factors`.
  """
  factors = np.asarray(factors, dtype=np.int64)
  _check(factors)
  images = np.zeros((len(factors), CANVAS, CANVAS), np.uint8)
  for start in range(0, len(factors), _CHUNK):
    _render_chunk(factors[start:start + _CHUNK],
                  images[start:start + _CHUNK])
  return images[..., None]


def _check(factors: np.ndarray) -> None:
  """Rejects a wrong shape or out-of-range class, naming the factor."""
  if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
    raise ValueError(f"factors must have shape (N, 5); got {factors.shape}.")
  for k, size in enumerate(FACTOR_SIZES):
    if factors.size and not 0 <= factors[:, k].min() <= factors[:, k].max(
    ) < size:
      raise ValueError(f"factor {k} classes must lie in [0, {size}).")


def _render_chunk(factors: np.ndarray, out: np.ndarray) -> None:
  """Draws each shape's sprites into their windows of `out` (N, 64, 64)."""
  for shape, inside_fn in enumerate((_square, _ellipse, _heart)):
    for scale_class, scale in enumerate(SCALES):
      rows = np.flatnonzero((factors[:, 0] == shape) &
                            (factors[:, 1] == scale_class))
      if rows.size:
        # The window [floor(c) - half, floor(c) + half) holds c +- reach.
        half = int(np.floor(_REACH * scale)) + 2
        qx, qy, x0, y0 = _window_coords(factors[rows], half)
        _paste(out, rows, x0, y0, inside_fn(qx, qy, scale))


def _window_coords(factors: np.ndarray, half: int):
  """Pixel-centre coordinates in each sprite's own frame, and window origins.

  Returns (qx, qy), each (N, 2 half, 2 half) float64 in px, y pointing up
  and axes turned by -orientation (so the sprite turns counter-clockwise on
  screen), and the (N,) integer column and row where each window starts.
  """
  cx = 16 + 32 * POSITIONS[factors[:, 3]]
  cy = 16 + 32 * POSITIONS[factors[:, 4]]
  x0 = np.floor(cx).astype(np.int64) - half
  y0 = np.floor(cy).astype(np.int64) - half
  centres = np.arange(2 * half) + 0.5
  dx = (x0[:, None] + centres - cx[:, None])[:, None, :]
  dy = (cy[:, None] - y0[:, None] - centres)[:, :, None]
  # Class 39 is 2 pi: use class 0's exact angle so the images are identical.
  theta = ORIENTATIONS[factors[:, 2] % 39]
  cos = np.cos(theta)[:, None, None]
  sin = np.sin(theta)[:, None, None]
  return cos * dx + sin * dy, cos * dy - sin * dx, x0, y0


def _square(qx: np.ndarray, qy: np.ndarray, scale: float) -> np.ndarray:
  """Inside the square, sides along the axes at orientation 0."""
  half = _SQUARE_HALF * scale
  return (np.abs(qx) <= half) & (np.abs(qy) <= half)


def _ellipse(qx: np.ndarray, qy: np.ndarray, scale: float) -> np.ndarray:
  """Inside the ellipse, major axis horizontal at orientation 0."""
  u = qx / (_ELLIPSE_AXES[0] * scale)
  v = qy / (_ELLIPSE_AXES[1] * scale)
  return u * u + v * v <= 1


def _heart(qx: np.ndarray, qy: np.ndarray, scale: float) -> np.ndarray:
  """Inside the heart, upright at orientation 0 (see _heart_radii)."""
  x = np.abs(qx) / scale
  y = qy / scale - _HEART_POLE
  radius2 = x * x + y * y
  # Only pixels within the outline's largest radius need its direction,
  # the costly part; they are about a third of the window.
  near = radius2 <= _HEART_RADII.max()**2
  direction = np.arctan2(x[near], y[near]) * ((_HEART_TABLE - 1) / np.pi)
  inside = np.zeros(x.shape, bool)
  inside[near] = radius2[near] <= np.interp(
      direction, np.arange(_HEART_TABLE), _HEART_RADII)**2
  return inside


def _paste(out: np.ndarray, rows: np.ndarray, x0: np.ndarray, y0: np.ndarray,
           windows: np.ndarray) -> None:
  """Writes each square window into its image at its origin."""
  offsets = np.arange(windows.shape[-1])
  out[rows[:, None, None], (y0[:, None] + offsets)[:, :, None],
      (x0[:, None] + offsets)[:, None, :]] = windows
