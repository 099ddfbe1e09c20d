"""An offline rasteriser of the dSprites factor grid.

The official file cannot always be had (offline machines, CI), so this module
re-renders any dSprites factor combination with the geometry measured from
official frames (see docs/dsprites.md): centre at 16 + 32 * pos, square
side 20 * scale, ellipse and heart bounding boxes as measured, rotation about
the nominal centre, binary pixels without anti-aliasing. A pixel is lit when
its centre lies inside the shape. A re-render cannot be bit-identical to the
file; it is the stand-in, not the data.

Everything is vectorised numpy over a 32x32 window around each sprite (no
sprite reaches further than 15 px from its centre), a quarter of the canvas.
"""

import numpy as np

CANVAS = 64
WINDOW = 32
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
FACTOR_SIZES = (3, 6, 40, 32, 32)

# Square corners are rounded with this radius (px at scale 1): it makes the
# bounding box at 45 degrees 26 px, as measured, instead of 20 * sqrt(2).
_SQUARE_CORNER = 2.75
# Ellipse semi-axes are affine in scale: 12x8 px at 0.5, 26x14 px at 1.
_ELLIPSE_A = (-1.0, 14.0)
_ELLIPSE_B = (1.0, 6.0)
# The heart (x^2 + y^2 - 1)^3 = x^2 y^3 spans x in +-1.1385, y in
# [-1, 1.2360], with its area centroid at y = 0.2935. It is stretched to
# 20 * scale x (16 * scale + 1) px and its centroid put 2 * scale px above the
# nominal centre, as in the official frames.
_HEART_X = 1.1385
_HEART_Y = (-1.0, 1.2360)
_HEART_CENTROID = 0.2935
_HEART_LIFT = 2.0
_CHUNK = 4096  # Images per vectorised step: bounds the float temporaries.


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
    rows = np.flatnonzero(factors[:, 0] == shape)
    if rows.size:
      qx, qy, x0, y0 = _window_coords(factors[rows])
      scale = SCALES[factors[rows, 1]].astype(np.float32)[:, None, None]
      _paste(out, rows, x0, y0, inside_fn(qx, qy, scale))


def _window_coords(factors: np.ndarray):
  """Pixel-centre coordinates in each sprite's own frame, and window origins.

  Returns (qx, qy), each (N, 32, 32) float32 in px, y pointing up and axes
  turned by -orientation (so the sprite turns counter-clockwise on screen),
  and the (N,) integer column and row where each window starts.
  """
  cx = 16 + 32 * POSITIONS[factors[:, 3]]
  cy = 16 + 32 * POSITIONS[factors[:, 4]]
  x0 = np.floor(cx).astype(np.int64) - WINDOW // 2
  y0 = np.floor(cy).astype(np.int64) - WINDOW // 2
  centres = np.arange(WINDOW) + 0.5
  dx = (x0[:, None] + centres - cx[:, None]).astype(np.float32)[:, None, :]
  dy = (cy[:, None] - y0[:, None] - centres).astype(np.float32)[:, :, None]
  # Class 39 is 2 pi: use class 0's exact angle so the images are identical.
  theta = ORIENTATIONS[factors[:, 2] % 39]
  cos = np.cos(theta).astype(np.float32)[:, None, None]
  sin = np.sin(theta).astype(np.float32)[:, None, None]
  return cos * dx + sin * dy, cos * dy - sin * dx, x0, y0


def _square(qx: np.ndarray, qy: np.ndarray, scale: np.ndarray) -> np.ndarray:
  """Inside a 20*scale square whose corners are rounded (see above)."""
  radius = _SQUARE_CORNER * scale
  inner = 10 * scale - radius
  ex = np.maximum(np.abs(qx) - inner, 0)
  ey = np.maximum(np.abs(qy) - inner, 0)
  return ex * ex + ey * ey <= radius * radius


def _ellipse(qx: np.ndarray, qy: np.ndarray, scale: np.ndarray) -> np.ndarray:
  """Inside the ellipse, major axis horizontal at orientation 0."""
  u = qx / (_ELLIPSE_A[0] + _ELLIPSE_A[1] * scale)
  v = qy / (_ELLIPSE_B[0] + _ELLIPSE_B[1] * scale)
  return u * u + v * v <= 1


def _heart(qx: np.ndarray, qy: np.ndarray, scale: np.ndarray) -> np.ndarray:
  """Inside the implicit heart curve, upright at orientation 0."""
  x = qx * (2 * _HEART_X / (20 * scale))
  y = ((qy - _HEART_LIFT * scale) * ((_HEART_Y[1] - _HEART_Y[0]) /
                                     (16 * scale + 1)) + _HEART_CENTROID)
  x2 = x * x
  r = x2 + y * y - 1
  return r * r * r <= x2 * y * y * y


def _paste(out: np.ndarray, rows: np.ndarray, x0: np.ndarray, y0: np.ndarray,
           windows: np.ndarray) -> None:
  """Writes each (32, 32) window into its image at its origin."""
  offsets = np.arange(WINDOW)
  out[rows[:, None, None], (y0[:, None] + offsets)[:, :, None],
      (x0[:, None] + offsets)[:, None, :]] = windows
