"""benchmarks.training_digest: a training recorded twice is the same record,
and a changed training is named."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow  # Each call trains in a subprocess.


def _run(*flags):
  return subprocess.run(
      [sys.executable, "-m", "benchmarks.training_digest",
       "--variants=beta", *flags], cwd=ROOT, capture_output=True, text=True,
      timeout=600, check=False)


def test_same_code_same_record_and_a_difference_is_named(tmp_path):
  first, second = tmp_path / "a.json", tmp_path / "b.json"
  assert _run(f"--output={first}").returncode == 0
  proc = _run(f"--output={second}", f"--compare={first}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "compared 1 variant(s)" in proc.stdout and "all equal" in proc.stdout
  old = json.loads(first.read_text())
  old["beta"]["metrics"][0]["train/loss"] += 1e-6  # Another training.
  first.write_text(json.dumps(old))
  proc = _run(f"--output={second}", f"--compare={first}")
  assert proc.returncode == 1 and "differ: beta" in proc.stdout
