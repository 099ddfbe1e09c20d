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

# Runs a study's module as __main__ with the trainer replaced.
WRAPPER = """
import runpy, sys
from betavae_jax import startup
from betavae_jax import train

def preempted(config, workdir, **options):
  raise startup.Preempted("Received SIGTERM during start-up; stopped before "
                        "writing anything.")

train.train_and_evaluate = preempted
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module,flags", [
    ("experiments.beta_sweep.run",
     ["--config=experiments/beta_sweep/config.py:smoke", "--runs=sweep"]),
    ("experiments.reproduction.run", ["--runs=smoke"]),
])
def test_signal_during_start_up_exits_zero_and_writes_no_report(
    tmp_path, module, flags):
  out = tmp_path / "out"
  proc = subprocess.run(
      [sys.executable, "-c", WRAPPER, module, f"--workdir={tmp_path / 'w'}",
       f"--out={out}", *flags],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  assert "Received SIGTERM during start-up" in proc.stderr
  assert "run the same command again to resume" in proc.stderr
  assert not out.exists()  # No report, no scores: nothing was trained.
