"""The reproduction study end to end on its smoke presets (synthetic data)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from betavae_jax import pretrained
from betavae_jax import trained_run
from experiments.reproduction import config as study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFICIAL = os.path.join(os.path.dirname(ROOT), "shared", "dsprites_official",
                        "dsprites.gif")

pytestmark = pytest.mark.slow


def _run_study(workdir, out, *flags):
  return subprocess.run(
      [sys.executable, "-m", "experiments.reproduction.run",
       f"--workdir={workdir}", f"--out={out}", "--runs=smoke,smoke_capacity",
       *flags], cwd=ROOT, capture_output=True, text=True, timeout=900,
      check=False)


def test_smoke_study_scores_every_step_ships_and_reports(tmp_path):
  out, models = tmp_path / "out", tmp_path / "models"
  proc = _run_study(tmp_path / "runs", out, f"--ship={models}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  for run in ("smoke", "smoke_capacity"):
    for step in (10, 20):
      report = json.loads(
          (out / "results" / run / f"metrics_{step}.json").read_text())
      assert report["step"] == step and report["draws"] == 2
      for member in report["members"]:
        spread = member["spread"]["mig.mig"]
        assert len(spread["values"]) == 2
        assert spread["min"] <= spread["mean"] <= spread["max"]
        rho = np.array(member["latent_factor"]["rho"])
        names = member["latent_factor"]["factors"]
        assert rho.shape == (10, len(names)) and len(names) >= 2
        assert np.all((0 <= rho) & (rho <= 1))
      assert (out / "plots" / run / str(step) / "traversal_0.png").exists()
    assert (out / "plots" / run / "20" / "traversal_0.gif").exists()
  text = (out / "README.md").read_text()
  assert "| smoke:beta=16 | 20 |" in text and "| smoke_capacity | 20 |" in text
  verdicts = [line for line in text.splitlines() if line.startswith("- *")]
  assert len(verdicts) == 9
  assert all(v.endswith(("**supported**", "**not supported**"))
             for v in verdicts)
  # The plain summary sorts every tested claim by its verdict.
  counted = [re.match(r"- (Reproduced|Not reproduced|Not decided) \((\d+) "
                      r"of 9 claims\)", line) for line in text.splitlines()]
  assert sum(int(m.group(2)) for m in counted if m) == 9
  assert "What each model's latents hold" in text
  assert "plots/curves.png" in text
  assert "| smoke | beta=1, beta=4, beta=16 | 20 | 20 | 10, 20 |" in text
  assert pretrained.available(models) == (
      "smoke_beta1", "smoke_beta16", "smoke_beta4", "smoke_capacity")
  # The report ranks the models as the shipped ones are ranked.
  label = {name: f"{run}:{member}" if member else run
           for run in ("smoke", "smoke_capacity")
           for member, name in study.shipped_names(run).items()}
  ranked = next(line for line in text.splitlines()
                if line.startswith("Most disentangled first"))
  assert re.findall(r"([\w:=]+) \(\d+\.\d\d\)", ranked) == [
      label[name] for name in pretrained.by_disentanglement(models)]
  facts = pretrained.info("smoke_beta4", models)
  assert facts["member"] == "beta=4" and facts["step"] == 20
  # The scores recorded with a shipped model are its member's own.
  scored = json.loads(
      (out / "results" / "smoke" / "metrics_20.json").read_text())
  own = next(m for m in scored["members"] if m["name"] == "beta=4")
  assert facts["scores"]["mig.mig"] == own["spread"]["mig.mig"]["mean"]
  assert facts["heldout"]["recon"] > 0
  model, params, config = pretrained.load("smoke_beta4", models)
  assert config.population.betas == (4.0,)
  x = np.zeros((2, 32, 32, 1), np.float32)
  mean, _ = model.apply({"params": params}, x, method=model.encode)
  assert mean.shape == (2, 10)

  # Again without training: every score is reused, not recomputed.
  scores = out / "results" / "smoke" / "metrics_20.json"
  before = scores.stat().st_mtime_ns
  again = _run_study(tmp_path / "runs", out, "--notrain")
  assert again.returncode == 0, again.stderr[-3000:]
  assert scores.stat().st_mtime_ns == before


def test_official_frames_cost_a_shipped_model_nothing_where_pixels_agree(
    tmp_path):
  if not os.path.isfile(OFFICIAL):
    pytest.skip(f"official dSprites frames not found at {OFFICIAL}.")
  # Imported here: the module defines the study's command-line flags.
  from experiments.reproduction import run
  shipped = trained_run.from_pretrained("capacity", str(tmp_path),
                                        rendered=True)
  result = run.score_official_frames(shipped, OFFICIAL)
  assert result["frames"] == 320 and len(result["members"]) == 1
  by_shape = result["members"][0]["by_shape"]
  for shape in ("square", "ellipse"):  # Pixel-identical: the same recon.
    assert by_shape[shape]["differing_pixels"] == 0
    assert by_shape[shape]["recon_official"] == pytest.approx(
        by_shape[shape]["recon_rendered"], rel=1e-6)
  heart = by_shape["heart"]
  assert 0 < heart["differing_pixels"] <= 2 * heart["frames"]
  assert heart["recon_official"] == pytest.approx(heart["recon_rendered"],
                                                  abs=1.0)
