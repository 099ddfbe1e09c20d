"""The beta-sweep study end to end on its smoke preset (synthetic data)."""

import os
import re
import subprocess
import sys

from PIL import Image
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A claim's line names its test, then one verdict (and maybe a note); a
# claim the data cannot decide (no latent switched on yet) says so.
VERDICT = re.compile(
    r"test: [^*]*\): (?:\*\*(?:not )?supported\*\*(?: \([^*]*\))?|"
    r"not decided \(too little data\))$")

pytestmark = pytest.mark.slow  # Trains and scores a whole study.


def _run_study(workdir, out):
  return subprocess.run(
      [sys.executable, "-m", "experiments.beta_sweep.run",
       "--config=experiments/beta_sweep/config.py:smoke",
       f"--workdir={workdir}",
       f"--out={out}", "--runs=sweep,capacity,tcvae"],
      cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_smoke_study_writes_the_report(tmp_path):
  out = tmp_path / "report"
  proc = _run_study(tmp_path / "runs", out)
  assert proc.returncode == 0, proc.stderr[-3000:]
  text = (out / "README.md").read_text()
  for beta in ("0.5", "1", "2", "4", "8", "16"):
    assert f"\n| {beta} | " in text  # One table row per beta.
  assert "## The theory's claims, tested" in text
  verdicts = [line for line in text.splitlines() if line.startswith("- *")]
  assert len(verdicts) >= 8
  for v in verdicts:
    assert VERDICT.search(v) and v.count("supported**") <= 1, v
  assert sum("supported**" in v for v in verdicts) >= len(verdicts) - 1
  for claim in ("*Total correlation falls as beta grows*",
                "*The index-code MI falls as beta grows*",
                "by the IWAE bound", "*beta-TCVAE lowers the total"):
    assert sum(claim in v for v in verdicts) == 1, claim
  assert "## Why beta works: the KL's parts" in text
  assert "\n| tcvae | 4 | " in text  # The decomposition table's rows.
  assert "\n| capacity | - | " in text  # Capacity has no beta.
  for name in ("tradeoffs", "generalisation", "recon_vs_disentanglement",
               "traversals_beta1_vs_best", "capacity_kl_per_latent",
               "kl_decomposition"):
    assert f"plots/{name}.png" in text
    with Image.open(out / "plots" / f"{name}.png") as image:
      assert min(image.size) >= 200

  # Run again: training resumes at its end and scores are reused.
  scores = tmp_path / "runs" / "sweep" / "eval" / "metrics_20.json"
  before = scores.stat().st_mtime_ns
  again = _run_study(tmp_path / "runs", out)
  assert again.returncode == 0, again.stderr[-3000:]
  assert scores.stat().st_mtime_ns == before
