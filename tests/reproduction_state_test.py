"""The reproduction study continues from the state it keeps in the tree.

A smoke run trains its first stretch, `run.py --write_state` writes its
state, the workdir is deleted (a fresh machine), and the study's command
continues from the state to the end, bit for bit as an uninterrupted run.
"""

import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from betavae_jax import metric_writer
from betavae_jax import run_state
from betavae_jax import train

from experiments.reproduction import config as study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow
PRESET = "smoke_capacity"
TIMING = ("train/steps_per_sec", "train/images_per_sec", "train/eta_min")


def _study(workdir, out, *flags):
  return subprocess.run(
      [sys.executable, "-m", "experiments.reproduction.run",
       f"--workdir={workdir}", f"--out={out}", *flags], cwd=ROOT,
      capture_output=True, text=True, timeout=900, check=False)


def _params(workdir) -> list[np.ndarray]:
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  with ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                             item_names=("state", "config", "meta")) as m:
    state = m.restore(m.latest_step(), args=ocp.args.Composite(
        state=ocp.args.StandardRestore(fallback_sharding=device))).state
  return [np.asarray(x) for x in jax.tree.leaves(state["params"])]


def _metrics(workdir) -> list[dict]:
  return [{k: v for k, v in r.items() if k not in TIMING}
          for r in metric_writer.read_metrics(str(workdir))]


@pytest.fixture(scope="module")
def state_written(tmp_path_factory):
  """The smoke run stopped at step 10 and its state in <out>/state."""
  root = tmp_path_factory.mktemp("study")
  runs, out = root / "runs", root / "out"
  assert train.train_or_resume(study.get_config(PRESET), str(runs / PRESET),
                               until_step=10)
  proc = _study(runs, out, f"--runs={PRESET}", "--write_state")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"{PRESET}: state at step 10" in proc.stdout
  shutil.copytree(out / "state" / PRESET, root / "copy")  # For the refusal.
  return runs, out


def test_study_continues_from_its_state_bitwise(state_written, tmp_path):
  runs, out = state_written
  reference = tmp_path / "uninterrupted"
  train.train_and_evaluate(study.get_config(PRESET), str(reference))
  shutil.rmtree(runs)  # A fresh machine: only the repository is left.
  proc = _study(runs, out, f"--runs={PRESET}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Continuing" in proc.stderr
  for a, b in zip(_params(runs / PRESET), _params(reference)):
    np.testing.assert_array_equal(a, b)
  assert _metrics(runs / PRESET) == _metrics(reference)
  for step in (10, 20):  # Scored as the run passed each step.
    assert (out / "results" / PRESET / f"metrics_{step}.json").exists()

  # Finished and scored: its state leaves the tree.
  proc = _study(runs, out, f"--runs={PRESET}", "--write_state")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "state removed" in proc.stdout
  assert run_state.read(str(out / "state" / PRESET)) is None

  # Another fresh machine: the finished run has neither state nor workdir,
  # and its results stay rather than being cleared for a new run.
  shutil.rmtree(runs)
  proc = _study(runs, out, f"--runs={PRESET}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "finished and scored; nothing to train" in proc.stderr
  assert not (runs / PRESET).exists()
  for step in (10, 20):
    assert (out / "results" / PRESET / f"metrics_{step}.json").exists()


def test_state_of_another_preset_is_refused(state_written, tmp_path):
  runs, _ = state_written
  states = tmp_path / "state"
  shutil.copytree(runs.parent / "copy", states / "smoke")
  proc = _study(tmp_path / "runs", tmp_path / "out", "--runs=smoke",
                f"--state={states}")
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert "does not fit the config" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert sorted(os.listdir(tmp_path)) == ["state"]  # Nothing written.
