"""benchmarks.kernel_init: every initialiser and seed trained, summarised."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_tiny_benchmark_reports_each_init_and_seed(tmp_path):
  output = tmp_path / "out.json"
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.kernel_init",
       f"--workdir={tmp_path / 'runs'}", f"--output={output}",
       "--inits=he_uniform,lecun_normal", "--seeds=0,1", "--steps=20",
       "--preset=smoke"], cwd=ROOT, capture_output=True, text=True,
      timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads(output.read_text())["results"]
  for init in ("he_uniform", "lecun_normal"):
    for seed in ("0", "1"):
      figures = results[init][seed]
      assert figures["heldout_elbo"] == pytest.approx(
          -(figures["heldout_recon"] + figures["heldout_kl"]), rel=1e-5)
      assert 0 <= figures["heldout_active_latents"] <= 10
      # Windows: the first quarter, the second, and the last fifth.
      assert {k for k in figures if k.startswith("train_recon")} == {
          "train_recon_1_5", "train_recon_6_10", "train_recon_17_20"}
  # Another initialiser trains another model from the same seed.
  assert (results["he_uniform"]["0"]["heldout_elbo"]
          != results["lecun_normal"]["0"]["heldout_elbo"])
  assert "| he_uniform | 2 |" in proc.stdout and "± " in proc.stdout
