"""Both studies stop cleanly when a signal stops a run's start-up.

`train.train_and_evaluate` raises `Preempted` for SIGTERM / SIGINT before
it writes anything (tests/fault_tolerance_test.py sends the real signal);
here it is made to raise at once, so the study's own handling is what runs.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow  # A subprocess per study.

# Runs a study's script as __main__ with the trainer replaced.
WRAPPER = """
import runpy, sys
from betavae_jax import startup
from betavae_jax import train

def preempted(config, workdir, **options):
  raise startup.Preempted("Received SIGTERM during start-up; stopped before "
                        "writing anything.")

train.train_and_evaluate = preempted
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("script,flags", [
    ("experiments/beta_sweep/run.py",
     ["--config=configs/beta_sweep.py:smoke", "--runs=sweep"]),
    ("experiments/reproduction/run.py", ["--runs=smoke"]),
])
def test_signal_during_start_up_exits_zero_and_writes_no_report(
    tmp_path, script, flags):
  out = tmp_path / "out"
  proc = subprocess.run(
      [sys.executable, "-c", WRAPPER, script, f"--workdir={tmp_path / 'w'}",
       f"--out={out}", *flags],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  assert "Received SIGTERM during start-up" in proc.stderr
  assert "run the same command again to resume" in proc.stderr
  assert not out.exists()  # No report, no scores: nothing was trained.
