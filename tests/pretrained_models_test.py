"""The shipped models on their real weights: they are there, install with the
package, reconstruct as the study measured, and their latents carry the
factors the study recorded for them.

Images come from the offline renderer (`DSprites()` without a source), so
these tests need no prepared dataset.
"""

import configparser
import glob
import pathlib

import jax
import numpy as np
import pytest

from betavae_jax import losses
from betavae_jax import models
from betavae_jax import pretrained
from betavae_jax import trained_run
from betavae_jax.datasets import dsprites
from betavae_jax.datasets import dsprites_render
from betavae_jax.evaluation import scores

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHIPPED = pretrained.available()
# The most disentangled model is the one every user gets first (the
# notebook and the README open with it).
FIRST = pretrained.by_disentanglement()[0] if SHIPPED else None


def _holds_each_position_in_one_latent(name: str) -> bool:
  """Whether the study found a latent with rho > 0.8 for pos_x and for pos_y.

  Not every disentangling objective gets there: at 100,000 steps beta = 4
  spreads pos_x over three latents, and the report says so.
  """
  recorded = pretrained.info(name)["latent_factor"].values()
  return all(any(r["factor"] == factor and r["rho"] > 0.8 for r in recorded)
             for factor in ("pos_x", "pos_y"))


def _images(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """`num` random dSprites factor draws and their rendered images."""
  data = dsprites.DSprites()
  factors = data.sample_factors(num, np.random.default_rng(seed))
  return factors, data.images_from_factors(factors).astype(np.float32)


def _recon(model, params, images: np.ndarray) -> float:
  """Mean Bernoulli -log p(x | z = posterior mean), in nats per image."""
  mean, _ = model.apply({"params": params}, images, method=model.encode)
  logits = model.apply({"params": params}, mean, method=model.decode)
  per_image = jax.vmap(losses.bernoulli_log_likelihood)(logits, images)
  return -float(np.mean(per_image))


def test_the_study_ships_its_models():
  assert SHIPPED
  for name in SHIPPED:
    facts = pretrained.info(name)
    assert facts["name"] == name and facts["step"] >= 10_000
    assert facts["data_version"] and facts["heldout"]["recon"] > 0
  # The README's picture shows it: one latent moves x, another y.
  assert _holds_each_position_in_one_latent(FIRST)


def test_package_data_installs_every_shipped_file():
  parser = configparser.ConfigParser()
  parser.read(ROOT / "setup.cfg")
  patterns = parser["options.package_data"]["betavae_jax"].split(",")
  package = ROOT / "betavae_jax"
  installed = {pathlib.Path(p) for pattern in patterns
               for p in glob.glob(str(package / pattern.strip()))}
  shipped = {p for p in (package / "pretrained_models").rglob("*")
             if p.is_file()}
  assert shipped and shipped <= installed


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.slow
def test_reconstructs_as_measured_and_far_better_than_untrained(name):
  model, params, _ = pretrained.load(name)
  _, images = _images(512, seed=1)
  untrained = models.init_params(model, images.shape[1:], jax.random.key(0))
  recon = _recon(model, params, images)
  assert recon < 0.25 * _recon(model, untrained, images)
  # The study measured it on 10,000 held-out images of the same grid.
  measured = pretrained.info(name)["heldout"]["recon_posterior_mean"]
  assert recon == pytest.approx(measured, rel=0.1)


@pytest.mark.parametrize(
    "name", [n for n in SHIPPED if _holds_each_position_in_one_latent(n)])
def test_one_latent_each_for_pos_x_and_pos_y(name):
  model, params, _ = pretrained.load(name)
  factors, images = _images(2_000, seed=2)
  mean, _ = model.apply({"params": params}, images, method=model.encode)
  rho = scores.factor_correlation(np.asarray(mean), factors)  # (D, K)
  names = dsprites.DSprites.factor_names
  pos_x, pos_y = rho[:, names.index("pos_x")], rho[:, names.index("pos_y")]
  assert pos_x.max() > 0.8 and pos_y.max() > 0.8
  assert pos_x.argmax() != pos_y.argmax()


@pytest.mark.parametrize("name", SHIPPED)
def test_latents_carry_the_factors_the_study_recorded(name):
  carried = pretrained.info(name)["latent_factor"]  # Active latents only.
  model, params, _ = pretrained.load(name)
  factors, images = _images(2_000, seed=2)
  mean, _ = model.apply({"params": params}, images, method=model.encode)
  rho = scores.factor_correlation(np.asarray(mean), factors)  # (D, K)
  names = dsprites.DSprites.factor_names
  for latent, recorded in carried.items():
    row = np.nan_to_num(rho[int(latent[1:])])  # The constant colour: nan.
    # The study measured rho on 10,000 other draws of the same grid.
    found = row[names.index(recorded["factor"])]
    assert found == pytest.approx(recorded["rho"], abs=0.05), latent
    # The recorded factor leads, or ties within the draws' noise where a
    # latent mixes factors (beta = 16's z6 holds both positions). Below
    # rho 0.2 a latent tracks no factor, and which leads is noise.
    assert recorded["rho"] < 0.2 or row.max() - found < 0.05, latent


def test_rendered_images_are_the_data_the_first_model_trained_on(tmp_path):
  run = trained_run.from_pretrained(FIRST, str(tmp_path), rendered=True)
  assert run.dataset.version == pretrained.info(FIRST)["data_version"]
  held_out = run.dataset.eval_indices[:16]
  factors = run.dataset.ground_truth.index_to_factors(held_out)
  np.testing.assert_array_equal(run.dataset.source.read(held_out),
                                dsprites_render.render(factors))
