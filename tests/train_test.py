"""End to end: the CLI trains the tiny config and writes its logs."""

import json
import logging
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from betavae_jax import metric_writer
from betavae_jax import models
from betavae_jax import train

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cli(workdir, *overrides, config="configs/test.py", env=None, **kw):
  """Runs `python -m betavae_jax.main` as a user would."""
  cmd = [sys.executable, "-m", "betavae_jax.main", f"--config={config}",
         f"--workdir={workdir}", *overrides]
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        env=dict(os.environ, **(env or {})), timeout=600,
                        **kw)


@pytest.mark.slow
def test_cli_trains_and_logs(tmp_path):
  proc = cli(tmp_path, "--config.objective.beta=2",
             "--config.train.plot_every_steps=20")
  assert proc.returncode == 0, proc.stderr[-3000:]
  records = metric_writer.read_metrics(str(tmp_path))
  assert [r["step"] for r in records if "train/loss" in r] == [5, 10, 15, 20]
  last = [r for r in records if "train/loss" in r][-1]
  for key in ("train/recon", "train/kl", "train/kl_per_dim_0", "train/beta",
              "train/lr", "train/active_latents", "train/images_per_sec",
              "train/eta_min"):
    assert key in last
  assert last["train/beta"] == 2.0
  evals = [r for r in records if "eval/elbo" in r]
  assert [r["step"] for r in evals] == [10, 20]
  assert np.isfinite(evals[-1]["eval/elbo"])
  config = json.loads((tmp_path / "config.json").read_text())
  assert config["objective"]["beta"] == 2
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "20"]
  assert os.listdir(tmp_path / "tensorboard")
  assert (tmp_path / "plots" / "20" / "traversal_0.png").exists()
  assert "Workdir:" in proc.stderr


@pytest.mark.slow
def test_train_and_evaluate_population(tmp_path, test_config, caplog):
  test_config.population.betas = (1.0, 4.0)
  test_config.train.num_train_steps = 10
  test_config.train.eval_metrics = ("mig",)
  caplog.set_level(logging.INFO)
  state = train.train_and_evaluate(test_config, str(tmp_path))
  assert state.step.shape == (2,)
  # The run's start logs every hyperparameter and the model's size.
  assert f"learning_rate: {test_config.optim.learning_rate}" in caplog.text
  count = models.num_params(test_config.model, (32, 32, 1))
  assert f"Parameters per model: {count:,}" in caplog.text
  last = metric_writer.read_metrics(str(tmp_path))[-1]
  assert last["eval/kl/beta=1"] != last["eval/kl/beta=4"]
  # Seen and held-out combinations are scored on different images.
  assert last["eval_train/elbo/beta=4"] != last["eval/elbo/beta=4"]
  assert 0 <= last["eval/mig.mig/beta=4"] <= 1
