"""The evaluation suite and the evaluate CLI on a tiny trained population."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from betavae_jax import encode_decode
from betavae_jax import input_pipeline
from betavae_jax import train
from betavae_jax import trained_run
from betavae_jax.evaluation import suite

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_evaluate_cli_writes_scores_and_udr(tmp_path, test_config):
  test_config.population.betas = (1.0, 4.0)
  test_config.train.num_train_steps = 10
  train.train_and_evaluate(test_config, str(tmp_path))
  proc = subprocess.run(
      [sys.executable, "-m", "betavae_jax.evaluate", f"--workdir={tmp_path}",
       "--metrics=mig,sap", "--iwae_samples=20", "--iwae_images=24"],
      cwd=ROOT, capture_output=True, text=True,
      timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "mig.mig" in proc.stdout and "UDR (lasso)" in proc.stdout
  report = json.loads((tmp_path / "eval" / "metrics_10.json").read_text())
  assert [m["name"] for m in report["members"]] == ["beta=1", "beta=4"]
  for member in report["members"]:
    assert set(member["scores"]) == {"mig", "sap", "iwae"}
    bound = member["scores"]["iwae"]
    assert bound["num_samples"] == 20 and bound["num_images"] == 24
    assert bound["split"] == "eval" and bound["log_likelihood"] < 0
    assert 0 <= member["scores"]["mig"]["mig"] <= 1
    assert member["scores"]["mig"]["settings"]["representation"] == "mean"
  assert len(report["udr"]["lasso"]["udr"]) == 2
  assert len(report["udr"]["spearman"]["udr"]) == 2


def test_sample_representation_differs_from_mean():
  images = np.zeros((600, 2, 2, 1), np.uint8)  # More than one batch.
  encode = lambda x: (np.ones((1, len(x), 3)), np.zeros((1, len(x), 3)))
  a = suite.representation_fn(encode, "mean")(images)
  b = suite.representation_fn(encode, "sample")(images)
  assert a.shape == (1, 600, 3) and np.all(a == 1)
  assert b.shape == (1, 600, 3) and not np.allclose(b, 1)
  assert suite.flat_scores({"mig": {"mig": 0.5, "settings": {}}}) == {
      "mig.mig": 0.5}


def test_encoder_always_sees_one_batch_shape():
  """Any request size reuses one compiled encoder: short batches padded."""
  shapes = []

  def encode(x):
    shapes.append(x.shape)
    codes = x.reshape(1, len(x), -1)[..., :1].astype(np.float32)
    return codes, np.zeros_like(codes)
  n = encode_decode.ENCODE_BATCH + 7
  images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
  codes = suite.representation_fn(encode, "mean")(images)
  assert set(shapes) == {(encode_decode.ENCODE_BATCH, 1, 1, 1)}
  np.testing.assert_array_equal(codes[0, :, 0], np.arange(n) % 256)
  suite.representation_fn(encode, "mean")(images[:3])
  assert set(shapes) == {(encode_decode.ENCODE_BATCH, 1, 1, 1)}


@pytest.mark.slow
def test_evaluate_run_reports_each_scores_spread(tmp_path, test_config):
  test_config.population.betas = (1.0, 4.0)
  test_config.train.num_train_steps = 10
  train.train_and_evaluate(test_config, str(tmp_path))
  run = trained_run.load(str(tmp_path))
  scoring = suite.Scoring(metrics=("mig",), num_train=500, iwae_images=0)
  report = suite.evaluate_run(run, dataclasses.replace(scoring, draws=3))
  assert report["draws"] == 3
  single = suite.evaluate_run(run, scoring)
  for member, alone in zip(report["members"], single["members"]):
    assert member["scores"]["mig"] == alone["scores"]["mig"]
    spread = member["spread"]["mig.mig"]
    assert len(spread["values"]) == 3
    assert spread["values"][0] == alone["scores"]["mig"]["mig"]
    assert spread["min"] <= spread["mean"] <= spread["max"]
    assert "spread" not in alone
  assert len(report["udr"]["lasso"]["spread"]) == 2


def test_split_images_read_the_split_asked_for(test_config):
  dataset = input_pipeline.load_dataset(test_config.data)
  everything = dataset.source.read(np.arange(len(dataset.source)))
  by_split = {s: {everything[i].tobytes() for i in indices}
              for s, indices in (("train", dataset.train_indices),
                                 ("eval", dataset.eval_indices))}
  for split in ("train", "eval"):
    images, used = suite.split_images(dataset, 40, split)
    assert used == split and len(images) == 40
    own = sum(x.tobytes() in by_split[split] for x in images)
    other = sum(x.tobytes() in by_split[{"train": "eval",
                                         "eval": "train"}[split]]
                for x in images)
    assert own == 40 and other < 40, split
  no_held_out = dataclasses.replace(dataset,
                                    eval_indices=dataset.eval_indices[:0])
  assert suite.split_images(no_held_out, 8, "eval")[1] == "train"
