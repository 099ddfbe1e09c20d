"""Shipped models: export and load round trip, names, errors."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from betavae_jax import pretrained
from betavae_jax import train
from betavae_jax import trained_run
from betavae_jax.evaluation import suite
from betavae_jax.plotting import figures


@pytest.mark.slow
def test_export_then_load_gives_the_runs_member(tmp_path, test_config,
                                               monkeypatch):
  test_config.population.betas = (1.0, 4.0)
  workdir = tmp_path / "run"
  train.train_and_evaluate(test_config, str(workdir))
  run = trained_run.load(str(workdir))
  member = 1
  params = jax.tree.map(lambda a: a[member], run.params)
  config = run.config.copy_and_resolve_references()
  config.population.betas = (4.0,)
  pretrained.export(params, config, run.dataset.image_shape,
                    tmp_path / "models" / "beta4",
                    {"step": run.step, "member": run.population.names[member]})
  assert pretrained.available(tmp_path / "models") == ("beta4",)
  model, loaded, loaded_config = pretrained.load("beta4", tmp_path / "models")
  assert loaded_config.population.betas == (4.0,)
  assert loaded_config.model.conv_channels == (8, 8, 16)
  jax.tree.map(np.testing.assert_array_equal, loaded, params)
  facts = pretrained.info("beta4", tmp_path / "models")
  assert facts["step"] == run.step and facts["member"] == "beta=4"
  assert facts["parameters"] == sum(
      np.size(x) for x in jax.tree.leaves(params))
  images = run.dataset.source.read(np.arange(8))
  mean, _ = run.encode_fn()(images)
  x = images.astype(np.float32) / run.pixel_max
  own_mean, _ = model.apply({"params": loaded}, x, method=model.encode)
  np.testing.assert_allclose(own_mean, mean[member], rtol=1e-5, atol=1e-6)

  # The CLIs' path: a shipped model by name, as a one-member run.
  monkeypatch.setattr(pretrained, "models_dir", lambda: tmp_path / "models")
  out = tmp_path / "scores"
  alone = trained_run.from_pretrained("beta4", str(out))
  report = suite.evaluate_run(alone, suite.Scoring(
      metrics=("mig",), num_train=500, iwae_images=0))
  assert report["step"] == run.step and len(report["members"]) == 1
  pictures, _ = figures.run_figures(alone, animate=False)
  assert pictures["reconstructions"].ndim == 3
  with pytest.raises(KeyError, match="available: beta4"):
    trained_run.from_pretrained("beta5", str(out))


def test_unknown_name_lists_the_known_ones(tmp_path):
  with pytest.raises(KeyError, match="No shipped model named 'nope'"):
    pretrained.load("nope", tmp_path)
  for name in pretrained.available():
    assert pretrained.info(name)["parameters"] > 0


def _fake_model(directory, name: str, beta_vae: float, factor_vae: float,
                mig: float) -> None:
  """A model folder with only what ranking reads: its recorded scores."""
  folder = directory / name
  folder.mkdir(parents=True)
  np.savez(folder / pretrained.PARAMS_FILE, w=np.zeros(1, np.float32))
  scores = dict(zip(pretrained.RANKING_SCORES, (beta_vae, factor_vae, mig)),
                **{"sap.sap": 0.9})  # Not a ranking score: ignored.
  (folder / pretrained.INFO_FILE).write_text(json.dumps({"scores": scores}))


def test_models_rank_by_their_mean_rank_over_the_scores(tmp_path):
  assert pretrained.by_disentanglement(tmp_path) == ()
  # Ranks (BetaVAE, FactorVAE, MIG): a 3,3,1; b 1,1,3; c 2,2,2. MIG
  # alone would put a first, BetaVAE and FactorVAE b.
  _fake_model(tmp_path, "a", 0.65, 0.40, 0.18)
  _fake_model(tmp_path, "b", 0.84, 0.72, 0.08)
  _fake_model(tmp_path, "c", 0.78, 0.55, 0.10)
  assert pretrained.by_disentanglement(tmp_path) == ("b", "c", "a")
  # d ties with b on every score: the name that sorts first leads.
  _fake_model(tmp_path, "0d", 0.84, 0.72, 0.08)
  assert pretrained.by_disentanglement(tmp_path)[:2] == ("0d", "b")


@pytest.mark.parametrize("cli", ["evaluate", "visualize"])
@pytest.mark.slow
def test_clis_name_an_unknown_shipped_model_in_one_line(cli):
  proc = subprocess.run(
      [sys.executable, "-m", f"betavae_jax.{cli}", "--pretrained=nope"],
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "Error: No shipped model named 'nope'; available:")
