"""Drawing: arrays of the figures rendered into HWC images with matplotlib.

Figures are drawn with matplotlib's object API rather than pyplot: no
display and no global figure state, so drawing inside the train loop is
safe.
"""

from collections.abc import Callable, Sequence

import matplotlib
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.figure import SubFigure
import numpy as np

from betavae_jax import losses
from betavae_jax.plotting.arrays import kl_order

DPI = 64  # A power of two, so whole-pixel sizes survive the inch conversion.
CELL_PX = 64  # Display size of one image in a grid.
TITLE_PX = 50  # Height reserved for a figure's title.
MIN_PANEL_PX = 480
MAX_WIDTH_PX = 3300  # Wider figures wrap their panels into more rows.
_GAP = 2  # Pixels between the images of a grid, in image pixels.
_GAP_VALUE = 1.0  # White like the background: images read as tiles.
_SAMPLE_COLUMNS = 8
# Sizes in points at DPI 64 (13-18 px on screen): readable at 1:1.
_RC = {"font.size": 15, "axes.titlesize": 16, "axes.labelsize": 15,
       "xtick.labelsize": 14, "ytick.labelsize": 14, "legend.fontsize": 14,
       "figure.titlesize": 20}


def _render(fig: Figure) -> np.ndarray:
  """The figure's pixels as an HWC float image in [0, 1]."""
  canvas = FigureCanvasAgg(fig)
  canvas.draw()
  return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float32) / 255


def _panels(names: Sequence[str], panel_px: tuple[int, int], title: str,
            draw: Callable[[SubFigure, int], None],
            per_row: int) -> np.ndarray:
  """One titled panel per member, `per_row` to a row, rendered.

  Fewer go to a row where `per_row` panels would be wider than
  MAX_WIDTH_PX. The image is exactly (rows * panel height + TITLE_PX,
  columns * panel width) pixels, so figures of different steps line up.
  """
  per_row = max(1, min(per_row, MAX_WIDTH_PX // panel_px[0]))
  cols = min(len(names), per_row)
  rows = -(-len(names) // per_row)
  width, height = cols * panel_px[0], rows * panel_px[1] + TITLE_PX
  with matplotlib.rc_context(_RC):
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI,
                 layout="constrained")
    fig.suptitle(title)
    subfigs = fig.subfigures(rows, cols, squeeze=False).ravel()
    for i, name in enumerate(names):
      if name:
        subfigs[i].suptitle(name, fontsize="large")
      draw(subfigs[i], i)
    return _render(fig)


def _mosaic(cells: np.ndarray) -> np.ndarray:
  """(R, C, H, W, channels) images in [0, 1] -> one RGB grid image."""
  r, c, h, w = cells.shape[:4]
  rgb = np.broadcast_to(cells, (r, c, h, w, 3))
  padded = np.pad(rgb, ((0, 0), (0, 0), (0, _GAP), (0, _GAP), (0, 0)),
                  constant_values=_GAP_VALUE)
  grid = padded.transpose(0, 2, 1, 3, 4).reshape(r * (h + _GAP),
                                                 c * (w + _GAP), 3)
  return grid[:-_GAP, :-_GAP]


def _show_grid(ax, cells: np.ndarray, row_labels: Sequence[str],
               col_labels: Sequence[str], xlabel: str, ylabel: str) -> None:
  """Draws a grid of images with a tick label per row and column."""
  ax.imshow(_mosaic(cells), interpolation="nearest")
  r, c, h, w = cells.shape[:4]
  ax.set_xticks((w + _GAP) * np.arange(c) + (w - 1) / 2 if col_labels
                else [], col_labels)
  ax.set_yticks((h + _GAP) * np.arange(r) + (h - 1) / 2 if row_labels
                else [], row_labels)
  ax.tick_params(length=0)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  for spine in ax.spines.values():
    spine.set_visible(False)


def grid_panel_px(rows: int, cols: int, label_px: int) -> tuple[int, int]:
  """(width, height) of a panel holding a rows x cols image grid.

  At least MIN_PANEL_PX wide, so that titles fit above small grids.
  """
  return (max(MIN_PANEL_PX, cols * CELL_PX + label_px + 30),
          rows * CELL_PX + 100)


def _kl_label(latent: int, kl: float) -> str:
  return f"z{latent}  KL {kl:.2f}"


def draw_traversal(pixels: np.ndarray, kl: np.ndarray, order: np.ndarray,
                   values: np.ndarray, names: Sequence[str], title: str,
                   per_row: int = 4) -> np.ndarray:
  """One row per latent (largest KL on top), one column per value.

  Args:
    pixels: (P, D, K, H, W, C) images in [0, 1], rows in `order`.
    kl: (P, D) KL of each latent, by latent index.
    order: (P, D) the latent of each row.
    values: (K,) the traversed values.
    names: the P member names.
    title: the figure's title.
    per_row: panels per row.
  """
  d, k = pixels.shape[1:3]

  def draw(subfig: SubFigure, i: int) -> None:
    rows = [_kl_label(j, kl[i, j]) for j in order[i]]
    _show_grid(subfig.subplots(), pixels[i], rows,
               [f"{v:.3g}" for v in values], "latent value",
               "latent, sorted by KL (nats)")
  return _panels(names, grid_panel_px(d, k, 200), title, draw, per_row)


def _draw_frame(pixels: np.ndarray, kl: np.ndarray, order: np.ndarray,
                names: Sequence[str], title: str) -> np.ndarray:
  """Every latent of every member at one value: (P, D, H, W, C) images."""
  d = pixels.shape[1]

  def draw(subfig: SubFigure, i: int) -> None:
    cols = [f"z{j}\n{kl[i, j]:.2f}" for j in order[i]]
    _show_grid(subfig.subplots(), pixels[i, None], [], cols,
               "latent, sorted by KL (nats)", "")
  width, height = grid_panel_px(1, d, 40)
  # Two-line column labels; a wide, short grid may also be scaled up.
  return _panels(names, (width, height + 50), title, draw, 1)


def draw_traversal_frames(pixels: np.ndarray, kl: np.ndarray,
                          order: np.ndarray, values: np.ndarray,
                          names: Sequence[str], title: str) -> list[np.ndarray]:
  """GIF frames of `draw_traversal`'s columns, members stacked vertically.

  Frame k shows every latent at value k, so the animation sweeps all
  latents at once and the members' columns line up.
  """
  return [_draw_frame(pixels[:, :, k], kl, order, names,
                      f"{title}, latent = {value:+.2f}")
          for k, value in enumerate(values)]


def draw_reconstructions(originals: np.ndarray, recons: np.ndarray,
                         names: Sequence[str], title: str,
                         per_row: int = 4) -> np.ndarray:
  """Originals (N, H, W, C) above each member's reconstructions (P, N, ...)."""
  n = originals.shape[0]

  def draw(subfig: SubFigure, i: int) -> None:
    cells = np.stack([originals, recons[i]])
    _show_grid(subfig.subplots(), cells, ["original", "reconstruction"],
               [str(j) for j in range(n)], "fixed evaluation image", "")
  return _panels(names, grid_panel_px(2, n, 150), title, draw, per_row)


def draw_samples(pixels: np.ndarray, names: Sequence[str], title: str,
                 per_row: int = 4) -> np.ndarray:
  """Each member's decodings (P, M, H, W, C) of the fixed prior draw."""
  m = pixels.shape[1]
  cols = min(m, _SAMPLE_COLUMNS)
  rows = -(-m // cols)
  blank = np.full((rows * cols - m,) + pixels.shape[2:], _GAP_VALUE)

  def draw(subfig: SubFigure, i: int) -> None:
    cells = np.concatenate([pixels[i], blank]).reshape(
        (rows, cols) + pixels.shape[2:])
    _show_grid(subfig.subplots(), cells, [], [],
               "decoded z ~ N(0, I), the same z at every step", "")
  return _panels(names, grid_panel_px(rows, cols, 40), title, draw, per_row)


def _latent_colors(num_latents: int) -> list:
  """A fixed colour per latent index, shared by all line plots."""
  cmap = matplotlib.colormaps["tab10" if num_latents <= 10 else "tab20"]
  return [cmap(j % cmap.N) for j in range(num_latents)]


def draw_kl(kl: np.ndarray, names: Sequence[str], title: str,
            per_row: int = 4) -> np.ndarray:
  """Bar chart of KL per latent, sorted, active latents coloured."""
  d = kl.shape[1]
  active_nats = losses.ACTIVE_KL_NATS
  top = max(float(kl.max()) * 1.1, 1e-3)
  colors = _latent_colors(d)

  def draw(subfig: SubFigure, i: int) -> None:
    ax = subfig.subplots()
    order = kl_order(kl)[i]
    active = kl[i, order] > active_nats
    ax.bar(np.arange(d), kl[i, order],
           color=[colors[j] if a else "lightgrey"
                  for j, a in zip(order, active)])
    ax.set_xticks(np.arange(d), [f"z{j}" for j in order],
                  rotation=90 if d > 12 else 0)
    ax.set_ylim(0, top)
    ax.set_xlabel("latent, sorted by KL")
    ax.set_ylabel("KL (nats)")
    ax.set_title(f"{active.sum()} active (> {active_nats:g} nats), "
                 f"total {kl[i].sum():.1f} nats")
  return _panels(names, (max(MIN_PANEL_PX, 36 * d + 140), 400), title, draw,
                 per_row)


def draw_response(factor_names: Sequence[str],
                  responses: Sequence[np.ndarray], kl: np.ndarray,
                  names: Sequence[str], title: str,
                  per_row: int = 4) -> np.ndarray:
  """Mean code of each latent against each factor; one axis per factor.

  Active latents get their colour and a legend entry, inactive ones are
  thin grey lines, so which latent encodes which factor stands out.
  """
  f, d = len(factor_names), kl.shape[1]
  colors = _latent_colors(d)

  def draw(subfig: SubFigure, i: int) -> None:
    axes = subfig.subplots(1, f, sharey=True, squeeze=False)[0]
    for j in kl_order(kl)[i][::-1]:  # Largest KL drawn last, on top.
      active = kl[i, j] > losses.ACTIVE_KL_NATS
      for ax, response in zip(axes, responses):
        ax.plot(response[i, :, j], color=colors[j] if active else "lightgrey",
                lw=2 if active else 1, label=f"z{j}" if active else None)
    for ax, name in zip(axes, factor_names):
      ax.set_xlabel(f"{name} (class)")
      ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes[0].set_ylabel("mean code")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
      subfig.legend(handles[::-1], labels[::-1], loc="outside right upper")
  return _panels(names, (f * 260 + 200, 400), title, draw, per_row)
