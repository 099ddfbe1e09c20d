"""benchmarks.xla_options: one tiny run, and a clear error."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow  # Each test runs the script.


def _run(*flags):
  return subprocess.run(
      [sys.executable, "-m", "benchmarks.xla_options", *flags],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_prints_a_row_per_variant_relative_to_the_first():
  proc = _run("--variants=package,ynn_dots", "--batch_size=4", "--rounds=2",
              "--steps=1")
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = re.findall(r"^(\w+) +median .* x([\d.]+) .* first loss ([\d.]+)$",
                    proc.stdout, re.M)
  assert [name for name, _, _ in rows] == ["package", "ynn_dots"]
  assert float(rows[0][1]) == 1.0
  # The options change how XLA computes, not what: the same first loss.
  losses = [float(loss) for _, _, loss in rows]
  assert abs(losses[0] - losses[1]) <= 1e-3 * abs(losses[0])


def test_unknown_variant_is_a_usage_error():
  proc = _run("--variants=package,no_such_option")
  assert proc.returncode != 0
  assert "Unknown variants ['no_such_option']" in proc.stderr
