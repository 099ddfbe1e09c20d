"""run_state: a run's newest state written, verified, swapped and put back.

A tiny configs/test.py run provides the workdir; the run's own resume then
shows that a workdir rebuilt from the state continues bit for bit.
"""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from betavae_jax import checkpointing
from betavae_jax import metric_writer
from betavae_jax import run_state
from betavae_jax import train
import conftest

TIMING = ("train/steps_per_sec", "train/images_per_sec", "train/eta_min")


def _config(steps: int = 20):
  config = conftest.load_config("test")
  config.train.num_train_steps = steps
  return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  """The whole 20-step run: final parameters and metrics."""
  workdir = str(tmp_path_factory.mktemp("uninterrupted"))
  state = train.train_and_evaluate(_config(), workdir)
  return state, _metrics(workdir)


@pytest.fixture(scope="module")
def halfway(tmp_path_factory):
  """A workdir stopped after step 10, and a state written from it."""
  root = tmp_path_factory.mktemp("halfway")
  workdir = str(root / "run")
  assert train.train_or_resume(_config(), workdir, until_step=10)
  target = str(root / "state" / "test")
  run_state.write(workdir, target)
  return workdir, target


def _metrics(workdir: str) -> list[dict]:
  return [{k: v for k, v in r.items() if k not in TIMING}
          for r in metric_writer.read_metrics(workdir)]


def _copy(halfway, tmp_path) -> tuple[str, str]:
  """A private copy of the fixture's workdir and state."""
  workdir, target = halfway
  shutil.copytree(workdir, tmp_path / "run")
  shutil.copytree(target, tmp_path / "state")
  return str(tmp_path / "run"), str(tmp_path / "state")


def test_until_step_stops_there_with_a_checkpoint(halfway):
  workdir, _ = halfway
  assert run_state.workdir_step(workdir) == 10
  assert max(r["step"] for r in metric_writer.read_metrics(workdir)) == 10


def test_state_holds_exactly_what_a_resume_needs(halfway):
  _, target = halfway
  state = run_state.read(target)
  assert state.step == 10 and state.config_name == "test"
  assert state.meta["data"]["version"].startswith("synthetic")
  top = sorted(os.listdir(target))
  assert top == ["checkpoints", "config.json", "metrics.jsonl",
                 run_state.MANIFEST]
  assert os.listdir(os.path.join(target, "checkpoints")) == ["10"]


def test_workdir_rebuilt_from_the_state_resumes_bitwise(
    halfway, uninterrupted, tmp_path):
  _, target = _copy(halfway, tmp_path)
  workdir = str(tmp_path / "elsewhere" / "run")  # A machine without it.
  assert run_state.continue_into(run_state.read(target), workdir)
  state = train.train_and_evaluate(_config(), workdir)
  expected_state, expected_metrics = uninterrupted
  for a, b in zip(jax.tree.leaves(jax.device_get(state.params)),
                  jax.tree.leaves(jax.device_get(expected_state.params))):
    np.testing.assert_array_equal(a, b)
  assert _metrics(workdir) == expected_metrics


def test_workdir_at_or_past_the_state_wins(halfway, tmp_path):
  workdir, target = _copy(halfway, tmp_path)
  assert not run_state.continue_into(run_state.read(target), workdir)
  assert train.train_or_resume(_config(), workdir, until_step=15)
  assert not run_state.continue_into(run_state.read(target), workdir)
  assert run_state.workdir_step(workdir) == 15


def test_workdir_behind_the_state_is_moved_aside_not_deleted(
    halfway, tmp_path):
  workdir, target = _copy(halfway, tmp_path)
  train.train_or_resume(_config(), workdir, until_step=15)
  newer = str(tmp_path / "newer")
  run_state.write(workdir, newer)
  behind = str(tmp_path / "behind")
  shutil.copytree(halfway[0], behind)  # Still at step 10.
  assert run_state.continue_into(run_state.read(newer), behind)
  assert run_state.workdir_step(behind) == 15
  aside = [n for n in os.listdir(tmp_path) if n.startswith("behind.behind_")]
  assert len(aside) == 1
  assert run_state.workdir_step(str(tmp_path / aside[0])) == 10


def test_write_replaces_the_previous_state(halfway, tmp_path):
  workdir, target = _copy(halfway, tmp_path)
  train.train_or_resume(_config(), workdir, until_step=15)
  assert run_state.write(workdir, target).step == 15
  assert os.listdir(os.path.join(target, "checkpoints")) == ["15"]
  assert sorted(os.listdir(tmp_path)) == ["run", "state"]  # No leftovers.


def test_write_killed_midway_leaves_the_old_state(halfway, tmp_path,
                                                  monkeypatch):
  workdir, target = _copy(halfway, tmp_path)
  train.train_or_resume(_config(), workdir, until_step=15)

  def killed(*args):  # Dies while copying the new checkpoint.
    raise KeyboardInterrupt
  with monkeypatch.context() as m:
    m.setattr(shutil, "copytree", killed)
    with pytest.raises(KeyboardInterrupt):
      run_state.write(workdir, target)
  assert run_state.read(target).step == 10

  real_rename = os.rename

  def rename_then_die(src, dst):  # Dies between the swap's two renames.
    if dst == target:
      raise KeyboardInterrupt
    real_rename(src, dst)
  with monkeypatch.context() as m:
    m.setattr(os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
      run_state.write(workdir, target)
  assert not os.path.exists(target)
  assert run_state.read(target).step == 10  # Its .previous copy.
  assert run_state.write(workdir, target).step == 15  # The next write heals.
  assert sorted(os.listdir(tmp_path)) == ["run", "state"]


def test_damaged_state_is_refused(halfway, tmp_path):
  _, target = _copy(halfway, tmp_path)
  with open(os.path.join(target, "metrics.jsonl"), "a") as f:
    f.write("{}\n")
  with pytest.raises(run_state.StateError, match="differs"):
    run_state.read(target)
  os.remove(os.path.join(target, run_state.MANIFEST))
  with pytest.raises(run_state.StateError, match="not a complete state"):
    run_state.read(target)


def test_state_of_another_run_does_not_fit(halfway):
  _, target = halfway
  state = run_state.read(target)
  meta = json.loads(json.dumps(state.meta))
  run_state.check_fits(state, "test", meta)  # Its own run fits.
  with pytest.raises(checkpointing.ShapeMismatchError, match="name"):
    run_state.check_fits(state, "other", meta)
  meta["model"]["latent_dim"] = 5
  with pytest.raises(checkpointing.ShapeMismatchError, match="latent_dim"):
    run_state.check_fits(state, "test", meta)
  meta = dict(state.meta, data={"version": "synthetic/9.9.9"})
  with pytest.raises(checkpointing.DataVersionError):
    run_state.check_fits(state, "test", meta)


def test_no_checkpoint_no_state(tmp_path):
  assert run_state.read(str(tmp_path / "none")) is None
  with pytest.raises(run_state.StateError, match="No checkpoint"):
    run_state.write(str(tmp_path), str(tmp_path / "state"))
  assert not os.path.exists(tmp_path / "state")
