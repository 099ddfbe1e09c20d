"""Figures from tiny random models and a hand-built decoder; the CLI."""

import dataclasses
import os
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from betavae_jax import base_config
from betavae_jax import input_pipeline
from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import steps
from betavae_jax import train
from betavae_jax import trained_run
from betavae_jax.datasets import ground_truth
from betavae_jax.datasets import sources
from betavae_jax.plotting import arrays
from betavae_jax.plotting import draw
from betavae_jax.plotting import figures
from betavae_jax.plotting import files

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIDE = 16  # Image side of the tiny datasets and models.
SQUARE = 4


def _square_images(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """(N,) top-left corners -> (N, SIDE, SIDE, 1) uint8 images of a square."""
  rows, cols = np.arange(SIDE)[:, None], np.arange(SIDE)[None, :]
  x, y = x[:, None, None], y[:, None, None]
  lit = (cols >= x) & (cols < x + SQUARE) & (rows >= y) & (rows < y + SQUARE)
  return lit[..., None].astype(np.uint8)


class Squares(ground_truth.GroundTruthData):
  """A 4x4 square at 4 x-positions and 3 y-positions, plus a dummy factor."""

  name = "squares"
  factor_names = ("colour", "x", "y")
  factor_sizes = (1, 4, 3)
  image_shape = (SIDE, SIDE, 1)
  pixel_max = 1

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    return _square_images(3 * factors[:, 1], 4 * factors[:, 2])


def _centroids(pixels: np.ndarray) -> np.ndarray:
  """(..., H, W, 1) images -> (..., 2) intensity centroids (x, y)."""
  img = pixels[..., 0]
  total = img.sum(axis=(-2, -1))
  x = (img * np.arange(img.shape[-1])).sum(axis=(-2, -1)) / total
  y = (img * np.arange(img.shape[-2])[:, None]).sum(axis=(-2, -1)) / total
  return np.stack([x, y], axis=-1)


def _hand_decode(z: np.ndarray) -> np.ndarray:
  """Latent 0 moves the square right, latent 1 moves it down; (P, N, ...)."""
  z = np.asarray(z)
  corner = np.clip(np.round(6 + 2 * z[..., :2]), 0, SIDE - SQUARE).astype(int)
  images = _square_images(corner[..., 0].ravel(), corner[..., 1].ravel())
  return images.reshape(z.shape[:-1] + images.shape[1:]).astype(np.float32)


def _squares_dataset(eval_indices: tuple[int, ...] = ()
                     ) -> input_pipeline.Dataset:
  """Every Squares image, with `eval_indices` held out."""
  data = Squares()
  images = data.images_from_indices(np.arange(data.num_examples))
  held_out = np.asarray(eval_indices, np.int64)
  return input_pipeline.Dataset(
      name=data.name, source=sources.ArraySource(images), ground_truth=data,
      image_shape=data.image_shape, pixel_max=data.pixel_max,
      train_indices=np.setdiff1d(np.arange(data.num_examples), held_out),
      eval_indices=held_out)


def _tiny_run(betas: tuple[float, ...]) -> trained_run.TrainedRun:
  """A random conv model per beta, wrapped as a run of the Squares data."""
  config = base_config.base_config()
  config.model.update(conv_channels=(4, 8), dense_sizes=(16,), latent_dim=3)
  config.objective.likelihood = "bernoulli"
  config.population.betas = betas
  model = models.create_model(config.model, Squares.image_shape)
  pop = population_lib.from_config(config)
  params = steps.create_population_state(config, model, Squares.image_shape,
                                         pop.members()).params
  return trained_run.TrainedRun(workdir="", config=config,
                                dataset=_squares_dataset(),
                                model=model, population=pop, params=params,
                                step=7)


OPTIONS = arrays.Options(num_traversal_images=2, traversal_steps=5,
                            num_reconstructions=4, num_samples=6,
                            response_samples=2, batch_size=8)


def _figures(run: trained_run.TrainedRun, per_row: int = 4) -> dict:
  options = dataclasses.replace(OPTIONS, panels_per_row=per_row)
  images = arrays.fixed_images(run.dataset, 10)
  return figures.figures(run.encode_fn(), run.decode_fn(), images,
                           run.population.names, likelihood="bernoulli",
                           pixel_max=1, ground_truth=run.dataset.ground_truth,
                           step=run.step, options=options)


@pytest.fixture(scope="module")
def population_run():
  return _tiny_run((1.0, 4.0))


@pytest.fixture(scope="module")
def single():
  return _figures(_tiny_run((4.0,)))


@pytest.fixture(scope="module")
def population(population_run):
  return _figures(population_run)


@pytest.mark.slow
def test_figures_are_rgb_images_in_unit_range(single):
  assert sorted(single) == [
      "kl_per_latent", "latent_factor_response", "reconstructions", "samples",
      "traversal_0", "traversal_1"]
  for image in single.values():
    assert image.ndim == 3 and image.shape[-1] == 3
    assert image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1
    assert image.std() > 0  # Something was drawn.


def test_grid_figure_sizes(single):
  panel = draw.grid_panel_px  # (width, height) of one member's panel.
  expected = {"traversal_0": panel(3, 5, 200),  # 3 latents x 5 values.
              "reconstructions": panel(2, 4, 150),
              "samples": panel(1, 6, 40)}
  for name, (width, height) in expected.items():
    assert single[name].shape == (height + draw.TITLE_PX, width, 3), name


@pytest.mark.slow
def test_population_panels_side_by_side(single, population):
  assert sorted(single) == sorted(population)
  for name, image in single.items():
    height, width, _ = image.shape
    assert population[name].shape == (height, 2 * width, 3), name


@pytest.mark.slow
def test_population_panels_wrap_into_rows(single, population_run):
  stacked = _figures(population_run, per_row=1)
  for name, image in single.items():
    height, width, _ = image.shape
    expected = (2 * height - draw.TITLE_PX, width, 3)
    assert stacked[name].shape == expected, name


def test_traversal_of_latent_0_moves_the_square_horizontally():
  mean = np.zeros((1, 1, 2), np.float32)
  logvar = np.log(np.array([[[0.2, 0.5]]], np.float32))  # z0 carries more KL.
  order = arrays.kl_order(arrays.latent_kl(mean, logvar))
  assert order.tolist() == [[0, 1]]
  values = np.linspace(-2, 2, 5)
  pixels = arrays.traverse(_hand_decode, mean, order, values)
  assert pixels.shape == (1, 1, 2, 5, SIDE, SIDE, 1)
  x, y = _centroids(pixels[0, 0, 0]).T  # Row 0: latent 0 sweeps.
  assert np.all(np.diff(x) > 0) and np.ptp(y) == 0
  x, y = _centroids(pixels[0, 0, 1]).T  # Row 1: latent 1 sweeps.
  assert np.all(np.diff(y) > 0) and np.ptp(x) == 0


def test_traverse_rows_follow_each_members_order():
  mean = np.zeros((2, 1, 2), np.float32)
  order = np.array([[0, 1], [1, 0]])
  pixels = arrays.traverse(_hand_decode, mean, order, np.array([-2., 2.]))
  x_move = np.ptp(_centroids(pixels[:, 0, 0])[..., 0], axis=-1)
  assert x_move.tolist() == [8.0, 0.0]  # Member 1's first row is latent 1.


def test_factor_response_follows_the_encoded_factor():
  data = Squares()

  def encode(images):  # Codes: the square's centroid, for two members.
    with np.errstate(invalid="ignore"):  # Blank rows pad the last batch.
      codes = _centroids(images.astype(np.float32))[None].repeat(2, axis=0)
    return codes, np.zeros_like(codes)
  names, responses = arrays.factor_response(encode, data, samples=3,
                                               seed=0, batch_size=5)
  assert names == ["x", "y"]  # The single-class factor is left out.
  assert [r.shape for r in responses] == [(2, 4, 2), (2, 3, 2)]
  np.testing.assert_allclose(responses[0][0, :, 0], 3 * np.arange(4) + 1.5)
  np.testing.assert_allclose(responses[1][0, :, 1], 4 * np.arange(3) + 1.5)


def test_to_pixels():
  outputs = np.array([-100.0, 0.0, 0.5, 3.0])
  np.testing.assert_allclose(arrays.to_pixels(outputs, "bernoulli"),
                             [0, 0.5, 0.62246, 0.95257], atol=1e-5)
  np.testing.assert_allclose(arrays.to_pixels(outputs, "gaussian"),
                             [0, 0, 0.5, 1])
  with pytest.raises(ValueError, match="likelihood"):
    arrays.to_pixels(outputs, "poisson")


def test_prior_samples_are_fixed():
  a = arrays.prior_latents(4, 3, seed=0)
  np.testing.assert_array_equal(a, arrays.prior_latents(4, 3, seed=0))
  assert not np.array_equal(a, arrays.prior_latents(4, 3, seed=1))


def test_fixed_images_are_fixed_and_held_out():
  dataset = _squares_dataset(eval_indices=(1, 5, 9))
  images = arrays.fixed_images(dataset, 6)
  np.testing.assert_array_equal(images, arrays.fixed_images(dataset, 6))
  held_out = dataset.source.read(dataset.eval_indices)
  assert all((image == held_out).all(axis=(1, 2, 3)).any() for image in images)
  assert len(np.unique(images, axis=0)) == 3


@pytest.mark.slow
def test_save_writes_png_and_looping_gif(tmp_path, population_run):
  run = population_run
  images = arrays.fixed_images(run.dataset, 10)
  animations = figures.traversal_animations(
      run.encode_fn(), run.decode_fn(), images, run.population.names,
      likelihood="bernoulli", options=OPTIONS)
  assert sorted(animations) == ["traversal_0", "traversal_1"]
  assert len(animations["traversal_0"]) == OPTIONS.traversal_steps
  image = np.zeros((20, 30, 3), np.float32)
  paths = files.save(str(tmp_path), {"grid": image}, animations)
  assert sorted(os.listdir(tmp_path)) == ["grid.png", "traversal_0.gif",
                                          "traversal_1.gif"]
  assert Image.open(paths[0]).size == (30, 20)
  gif = Image.open(tmp_path / "traversal_0.gif")
  assert gif.n_frames == 2 * OPTIONS.traversal_steps - 2  # There and back.


@pytest.mark.slow
def test_cli_writes_plots_of_a_trained_run(tmp_path, test_config):
  test_config.train.num_train_steps = 2
  test_config.train.eval_every_steps = 0
  train.train_and_evaluate(test_config, str(tmp_path))
  proc = subprocess.run(
      [sys.executable, "-m", "betavae_jax.visualize", f"--workdir={tmp_path}",
       "--num_images=8", "--traversal_images=1"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  written = sorted(os.path.basename(p) for p in proc.stdout.split())
  assert "traversal_0.png" in written and "traversal_0.gif" in written
  assert "reconstructions.png" in written and "kl_per_latent.png" in written
  assert sorted(os.listdir(tmp_path / "plots" / "2")) == written
  # Loading follows the run's config.data.in_memory unless told otherwise.
  assert isinstance(trained_run.load(str(tmp_path)).dataset.source,
                    sources.PackedBitsSource)
  assert not isinstance(
      trained_run.load(str(tmp_path), in_memory=False).dataset.source,
      sources.PackedBitsSource)
