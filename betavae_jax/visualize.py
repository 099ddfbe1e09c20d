r"""Pictures of a trained beta-VAE: traversals, reconstructions, samples, KL.

  python -m betavae_jax.visualize --workdir=runs/dsprites [--step=N]

writes PNGs (and a traversal GIF per seed image) to <workdir>/plots/<step>/.

The figures are pure functions of two callables and fixed arrays, so the CLI,
the train loop (`MetricWriter.write_images`), the notebook and the sweep report
draw the same pictures. Both callables carry a leading population axis P:
`encode` maps uint8 images (N, H, W, C) to (mean, logvar), each (P, N, D), and
`decode` maps latents (P, N, D) to decoder outputs (P, N, H, W, C). Every
figure is an HWC float image in [0, 1] with one panel per population member,
titled with its name (beta and seed). The images, prior samples and
factor-response samples are fixed by `Options.seed`, so pictures from
different steps and runs compare.

Figures are drawn with matplotlib's object API rather than pyplot: no display
and no global figure state, so drawing inside the train loop is safe.
"""


from collections.abc import Callable, Sequence
import dataclasses
import os
import sys
from typing import Any

from absl import app
from absl import flags
import jax
import matplotlib
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.figure import SubFigure
import numpy as np
from PIL import Image

from betavae_jax import allocator
from betavae_jax import input_pipeline
from betavae_jax import losses
from betavae_jax import trained_run
from betavae_jax.datasets import ground_truth as ground_truth_lib

EncodeFn = Callable[[np.ndarray], tuple[Any, Any]]
DecodeFn = Callable[[np.ndarray], Any]

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


@dataclasses.dataclass(frozen=True)
class Options:
  """What the figures show; the defaults suit 64x64 dSprites."""

  num_traversal_images: int = 3  # Seed images, the first of `images`.
  traversal_range: tuple[float, float] = (-3.0, 3.0)
  traversal_steps: int = 9
  num_reconstructions: int = 8
  num_samples: int = 16
  response_samples: int = 16  # Images averaged per factor value.
  seed: int = 0  # Fixes the prior samples and the response images.
  batch_size: int = 64  # Images per encode/decode call: bounds memory.
  panels_per_row: int = 4  # Population members per row of panels.
  gif_frame_ms: int = 150


# Model outputs.


def to_pixels(outputs: Any, likelihood: str) -> np.ndarray:
  """Decoder outputs as [0, 1] pixels: sigmoid of logits, clipped means."""
  if likelihood == "bernoulli":
    return np.asarray(jax.nn.sigmoid(np.asarray(outputs, np.float32)))
  if likelihood == "gaussian":
    return np.clip(np.asarray(outputs, np.float32), 0.0, 1.0)
  raise ValueError(f"likelihood must be one of {losses.LIKELIHOODS}; "
                   f"got {likelihood!r}.")


def encode_batched(encode: EncodeFn, images: np.ndarray,
                   batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(mean, logvar), each (P, N, D), in batches that bound memory."""
  parts = [encode(images[i:i + batch_size])
           for i in range(0, len(images), batch_size)]
  return tuple(np.concatenate([np.asarray(p[j]) for p in parts], axis=1)
               for j in (0, 1))


def decode_batched(decode: DecodeFn, z: np.ndarray,
                   batch_size: int) -> np.ndarray:
  """Decoder outputs (P, N, H, W, C) of latents (P, N, D), in batches."""
  return np.concatenate([np.asarray(decode(z[:, i:i + batch_size]))
                         for i in range(0, z.shape[1], batch_size)], axis=1)


def latent_kl(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
  """(P, D) KL of each latent to the prior, averaged over the images."""
  return np.asarray(losses.kl_per_dimension(mean, logvar)).mean(axis=1)


def kl_order(kl: np.ndarray) -> np.ndarray:
  """(P, D) latent indices of each member, largest KL first."""
  return np.argsort(-kl, axis=1, kind="stable")


def traversal_values(options: Options) -> np.ndarray:
  """The (K,) values every traversed latent takes, the same at every step."""
  lo, hi = options.traversal_range
  return np.linspace(lo, hi, options.traversal_steps, dtype=np.float32)


def traverse(decode: DecodeFn, mean: np.ndarray, order: np.ndarray,
             values: np.ndarray, batch_size: int = 64) -> np.ndarray:
  """Decodes each latent swept over `values`, the others at the mean.

  Args:
    decode: latents (P, N, D) -> decoder outputs (P, N, H, W, C).
    mean: (P, S, D) posterior means of S seed images.
    order: (P, D) the latent of each row, per member.
    values: (K,) the values the row's latent takes.
    batch_size: latents per decode call.

  Returns:
    (P, S, D, K, H, W, C) decoder outputs; row r sweeps latent order[p, r].
  """
  p, s, d = mean.shape
  k = len(values)
  z = np.repeat(mean[:, :, None, None, :], d, axis=2).repeat(k, axis=3)
  pi, si, ri, ki = np.ix_(range(p), range(s), range(d), range(k))
  z[pi, si, ri, ki, order[pi, ri]] = values[ki]
  out = decode_batched(decode, z.reshape(p, s * d * k, d), batch_size)
  return out.reshape((p, s, d, k) + out.shape[2:])


def prior_latents(num: int, latent_dim: int, seed: int) -> np.ndarray:
  """The fixed (num, D) draw from N(0, I) that every sample grid decodes."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((num, latent_dim)).astype(np.float32)


def factor_response(
    encode: EncodeFn, data: ground_truth_lib.GroundTruthData, samples: int,
    seed: int, batch_size: int = 64) -> tuple[list[str], list[np.ndarray]]:
  """Mean code of every latent at every value of every varying factor.

  For factor k and class v, `samples` images with factor k = v and the
  other factors drawn at random (fixed by `seed`) are encoded and their
  posterior means averaged.

  Returns:
    The names of the factors with more than one class and, per factor, a
    (P, num_classes, D) array of mean codes.
  """
  rng = np.random.default_rng(seed)
  varying = [k for k, size in enumerate(data.factor_sizes) if size > 1]
  factors = []
  for k in varying:
    size = data.factor_sizes[k]
    drawn = data.sample_factors(size * samples, rng)
    drawn[:, k] = np.repeat(np.arange(size), samples)
    factors.append(drawn)
  mean, _ = encode_batched(
      encode, data.images_from_factors(np.concatenate(factors)), batch_size)
  bounds = np.cumsum([len(f) for f in factors])[:-1]
  responses = [m.reshape(m.shape[0], -1, samples, m.shape[-1]).mean(axis=2)
               for m in np.split(mean, bounds, axis=1)]
  return [data.factor_names[k] for k in varying], responses


# Drawing.


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


# Putting it together.


def _suffix(step: int | None) -> str:
  return "" if step is None else f", step {step}"


def _encode_fixed(encode: EncodeFn, images: np.ndarray, batch_size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Posterior means (P, N, D), KL per latent (P, D) and the KL order."""
  mean, logvar = encode_batched(encode, images, batch_size)
  kl = latent_kl(mean, logvar)
  return mean, kl, kl_order(kl)


def _traversal_pixels(decode: DecodeFn, mean: np.ndarray, order: np.ndarray,
                      likelihood: str, options: Options) -> np.ndarray:
  """(P, S, D, K, H, W, C) traversal images of the seed images."""
  seeds = mean[:, :options.num_traversal_images]
  outputs = traverse(decode, seeds, order, traversal_values(options),
                     options.batch_size)
  return to_pixels(outputs, likelihood)


def _decoded(decode: DecodeFn, z: np.ndarray, likelihood: str,
             batch_size: int) -> np.ndarray:
  return to_pixels(decode_batched(decode, z, batch_size), likelihood)


def figures(encode: EncodeFn, decode: DecodeFn, images: np.ndarray,
            names: Sequence[str], *, likelihood: str, pixel_max: int,
            ground_truth: ground_truth_lib.GroundTruthData | None = None,
            step: int | None = None,
            options: Options = Options()) -> dict[str, np.ndarray]:
  """Every static figure of a model or population, for PNG or TensorBoard.

  Args:
    encode: uint8 images (N, H, W, C) -> (mean, logvar), each (P, N, D).
    decode: latents (P, N, D) -> decoder outputs (P, N, H, W, C).
    images: fixed uint8 images; the KL per latent is averaged over all of
      them, traversals use the first few and reconstructions the first
      `options.num_reconstructions`.
    names: the P member names, shown above their panels.
    likelihood: 'bernoulli' (outputs are logits) or 'gaussian' (means).
    pixel_max: the value of a fully lit pixel in `images`.
    ground_truth: adds the latent-factor response figure when given.
    step: shown in the titles.
    options: what to show.

  Returns:
    HWC float images in [0, 1]: 'traversal_<i>' per seed image,
    'reconstructions', 'samples', 'kl_per_latent' and, with ground truth,
    'latent_factor_response'.
  """
  o, suffix, per_row = options, _suffix(step), options.panels_per_row
  mean, kl, order = _encode_fixed(encode, images, o.batch_size)
  pixels = _traversal_pixels(decode, mean, order, likelihood, o)
  values = traversal_values(o)
  out = {f"traversal_{s}": draw_traversal(
      pixels[:, s], kl, order, values, names,
      f"Latent traversals of image {s}{suffix}", per_row)
         for s in range(pixels.shape[1])}
  n = o.num_reconstructions
  out["reconstructions"] = draw_reconstructions(
      images[:n] / pixel_max,
      _decoded(decode, mean[:, :n], likelihood, o.batch_size), names,
      f"Reconstructions (posterior mean){suffix}", per_row)
  z = prior_latents(o.num_samples, mean.shape[-1], o.seed)
  z = np.broadcast_to(z, (len(names),) + z.shape)
  out["samples"] = draw_samples(
      _decoded(decode, z, likelihood, o.batch_size), names,
      f"Samples from the prior{suffix}", per_row)
  out["kl_per_latent"] = draw_kl(kl, names, f"KL per latent{suffix}", per_row)
  if ground_truth is not None:
    response = factor_response(encode, ground_truth, o.response_samples,
                               o.seed, o.batch_size)
    out["latent_factor_response"] = draw_response(
        *response, kl, names, f"Latent-factor response{suffix}", per_row)
  return out


def traversal_animations(encode: EncodeFn, decode: DecodeFn,
                         images: np.ndarray, names: Sequence[str], *,
                         likelihood: str, step: int | None = None,
                         options: Options = Options()
                         ) -> dict[str, list[np.ndarray]]:
  """GIF frames 'traversal_<i>' per seed image (arguments as `figures`)."""
  mean, kl, order = _encode_fixed(encode, images, options.batch_size)
  pixels = _traversal_pixels(decode, mean, order, likelihood, options)
  return {f"traversal_{s}": draw_traversal_frames(
      pixels[:, s], kl, order, traversal_values(options), names,
      f"Image {s}{_suffix(step)}")
          for s in range(pixels.shape[1])}


def fixed_images(dataset: input_pipeline.Dataset, num: int,
                 seed: int = 0) -> np.ndarray:
  """The same `num` uint8 images at every call, drawn with `seed`.

  Held-out images where the run has them, so reconstructions show
  generalisation; else training images. Drawn at random rather than taken
  first, since a factor grid's first images all share one shape.
  """
  pool = (dataset.eval_indices if len(dataset.eval_indices) else
          dataset.train_indices)
  rng = np.random.default_rng(seed)
  return dataset.source.read(rng.choice(pool, num, replace=num > len(pool)))


def _uint8(image: np.ndarray) -> np.ndarray:
  return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def save(directory: str, images: dict[str, np.ndarray],
         animations: dict[str, list[np.ndarray]] | None = None,
         frame_ms: int = Options.gif_frame_ms) -> list[str]:
  """Writes <name>.png per image and a looping <name>.gif per animation.

  Returns:
    The paths written.
  """
  os.makedirs(directory, exist_ok=True)
  paths = []
  for name, image in images.items():
    paths.append(os.path.join(directory, f"{name}.png"))
    Image.fromarray(_uint8(image)).save(paths[-1])
  for name, frames in (animations or {}).items():
    # Forward then back, so the loop has no jump.
    pil = [Image.fromarray(_uint8(f)) for f in frames + frames[-2:0:-1]]
    paths.append(os.path.join(directory, f"{name}.gif"))
    pil[0].save(paths[-1], save_all=True, append_images=pil[1:],
                duration=frame_ms, loop=0)
  return paths


def run_figures(run: trained_run.TrainedRun, num_images: int = 64,
                options: Options = Options(), animate: bool = True
                ) -> tuple[dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
  """The figures and (with `animate`) traversal GIF frames of a loaded run."""
  images = fixed_images(run.dataset, num_images, options.seed)
  kwargs = dict(likelihood=run.config.objective.likelihood, step=run.step,
                options=options)
  args = (run.encode_fn(), run.decode_fn(), images, run.population.names)
  pictures = figures(*args, pixel_max=run.pixel_max,
                     ground_truth=run.dataset.ground_truth, **kwargs)
  animations = traversal_animations(*args, **kwargs) if animate else {}
  return pictures, animations


def _define_flags() -> None:
  """Defines the CLI's flags, only when this module runs as a script.

  The train loop imports this module next to main.py's own --workdir.
  """
  flags.DEFINE_string("workdir", None, "The run's directory (with "
                      "--pretrained: where its figures go).")
  flags.DEFINE_string("pretrained", None, "Draw this shipped model "
                      "(betavae_jax.pretrained.available()) instead; figures "
                      "go to --workdir, default runs/pretrained_<name>.")
  flags.DEFINE_integer("step", None, "Checkpoint step; default the newest.")
  flags.DEFINE_integer(
      "num_images", 64, "Fixed images encoded; the KL per latent that sorts "
      "the traversal rows is averaged over them.")
  flags.DEFINE_integer("traversal_images", Options.num_traversal_images,
                       "Seed images with a traversal grid and GIF.")
  flags.DEFINE_float("traversal_max", Options.traversal_range[1],
                     "Each latent sweeps [-traversal_max, traversal_max].")
  flags.DEFINE_bool("gifs", True, "Also write traversal GIFs.")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  allocator.keep_heap()  # Before JAX starts its threads; see allocator.py.
  f = flags.FLAGS
  options = Options(num_traversal_images=f.traversal_images,
                    traversal_range=(-f.traversal_max, f.traversal_max))
  workdir = f.workdir or os.path.join("runs", f"pretrained_{f.pretrained}")
  try:
    if f.pretrained:
      run = trained_run.from_pretrained(f.pretrained, workdir, in_memory=False)
    elif f.workdir:
      run = trained_run.load(f.workdir, f.step, in_memory=False)  # 64 images.
    else:
      raise trained_run.RunError("Pass --workdir=<run> or --pretrained=<name>.")
  except trained_run.LOAD_ERRORS as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(2)
  pictures, animations = run_figures(run, f.num_images, options, f.gifs)
  directory = os.path.join(run.workdir, "plots", str(run.step))
  for path in save(directory, pictures, animations, options.gif_frame_ms):
    print(path)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
