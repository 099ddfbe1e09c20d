"""checkpointing's contract on tiny pytrees: round trips, fallback, retention
and the errors a run's user reads.

The trainer's use of these functions (a NaN, a full disk, a changed config,
readers beside a run) is tested end to end in fault_injection_test.py.
"""

import errno
import logging
import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import checkpointing

META = {"model": {"latent_dim": 4, "conv_channels": [8, 16]},
        "population": {"betas": [1.0]}, "image_shape": [32, 32, 1],
        "data": {"version": "d/1.0.0"}, "optim": {"name": "adam"}}


def _state(value: float) -> dict:
  """A train-state-like tree whose every leaf says which step saved it."""
  return {"params": {"dense": {"kernel": jnp.full((2, 3), value),
                               "bias": jnp.arange(3.0) + value}},
          "step": jnp.array(int(value), jnp.int32)}


def _abstract(state: dict) -> dict:
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), state)


def _save(workdir: pathlib.Path, steps, meta=None, **manager_kw) -> list[int]:
  """Saves `_state(step)` at each step; returns the steps kept."""
  manager_kw = {"max_to_keep": 10, **manager_kw}
  with checkpointing.create_manager(str(workdir), **manager_kw) as manager:
    for step in steps:
      checkpointing.save(manager, step, _state(step),
                         {"optim": {"learning_rate": step / 10}},
                         meta or META)
    checkpointing.wait(manager)
    return list(manager.all_steps())


def _steps_on_disk(workdir: pathlib.Path) -> list[str]:
  return sorted(os.listdir(workdir / "checkpoints"))


def _assert_state(state, value: float) -> None:
  expected = _state(value)
  assert jax.tree.structure(state) == jax.tree.structure(expected)
  for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# -- Round trips --------------------------------------------------------------


def test_restore_latest_returns_the_newest_state_config_and_meta(tmp_path):
  assert _save(tmp_path, [1, 2]) == [1, 2]
  restored = checkpointing.restore_latest(str(tmp_path),
                                          _abstract(_state(0)), META)
  assert restored.step == 2
  _assert_state(restored.state, 2)
  assert restored.config == {"optim": {"learning_rate": 0.2}}
  assert restored.meta == META


def test_restore_latest_without_checkpoints_is_none_and_creates_nothing(
    tmp_path):
  assert checkpointing.restore_latest(str(tmp_path), _abstract(_state(0)),
                                      META) is None
  missing = tmp_path / "missing"
  assert checkpointing.restore_latest(str(missing), _abstract(_state(0)),
                                      META) is None
  assert os.listdir(tmp_path) == []


def test_checkpoint_saved_without_a_config_restores_config_none(tmp_path):
  _save(tmp_path, [1])
  shutil.rmtree(tmp_path / "checkpoints" / "1" / "config")
  restored = checkpointing.restore_latest(str(tmp_path),
                                          _abstract(_state(0)), META)
  assert restored.step == 1 and restored.config is None
  _assert_state(restored.state, 1)


# -- Unreadable and partial checkpoints ---------------------------------------


def _delete_array_files(step_dir: pathlib.Path) -> None:
  """A file deleted: the state item's data chunks are gone."""
  chunks = [p for p in (step_dir / "state").rglob("*")
            if p.is_file() and p.parent.name == "d"]
  assert chunks
  for path in chunks:
    path.unlink()


def _garble_meta(step_dir: pathlib.Path) -> None:
  """The metadata JSON cut short mid-write."""
  (step_dir / "meta" / "metadata").write_text('{"model": {"lat')


def _remove_state(step_dir: pathlib.Path) -> None:
  """The state item missing altogether."""
  shutil.rmtree(step_dir / "state")


@pytest.mark.parametrize("damage", [_delete_array_files, _garble_meta,
                                    _remove_state])
def test_unreadable_newest_falls_back_and_is_moved_aside(tmp_path, caplog,
                                                         damage):
  _save(tmp_path, [1, 2, 3])
  damage(tmp_path / "checkpoints" / "3")
  caplog.set_level(logging.WARNING)
  restored = checkpointing.restore_latest(str(tmp_path),
                                          _abstract(_state(0)), META)
  assert restored.step == 2
  _assert_state(restored.state, 2)
  assert "Checkpoint at step 3 in" in caplog.text
  assert "Resuming from step 2 instead of unreadable step(s) [3]" in (
      caplog.text)
  assert _steps_on_disk(tmp_path) == ["1", "2"]
  aside = os.listdir(tmp_path / "checkpoints_unreadable")
  assert len(aside) == 1 and aside[0].startswith("3_")
  # The resumed run can save step 3 again.
  assert _save(tmp_path, [3]) == [1, 2, 3]


def test_every_checkpoint_unreadable_raises_and_moves_nothing(tmp_path):
  _save(tmp_path, [1, 2])
  for step in ("1", "2"):
    _garble_meta(tmp_path / "checkpoints" / step)
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"No readable checkpoint in .*checkpoints: tried "
                     r"steps \[2, 1\]; last error: ") as e:
    checkpointing.restore_latest(str(tmp_path), _abstract(_state(0)), META)
  assert "--config.train.start_fresh=True" in str(e.value)
  assert "\n" not in str(e.value)
  assert _steps_on_disk(tmp_path) == ["1", "2"]
  assert not (tmp_path / "checkpoints_unreadable").exists()


def test_a_save_cut_short_is_not_a_checkpoint(tmp_path, caplog):
  """Orbax writes into a temporary folder and renames it when complete."""
  _save(tmp_path, [1, 2])
  partial = tmp_path / "checkpoints" / "3.orbax-checkpoint-tmp-1234567"
  (partial / "state").mkdir(parents=True)
  (partial / "state" / "manifest.ocdbt").write_bytes(b"\0" * 5)
  caplog.set_level(logging.WARNING)
  restored = checkpointing.restore_latest(str(tmp_path),
                                          _abstract(_state(0)), META)
  assert restored.step == 2
  assert "unreadable" not in caplog.text
  with checkpointing.reader(str(tmp_path)) as manager:
    assert list(manager.all_steps()) == [1, 2]


# -- Checkpoints that do not fit ----------------------------------------------


def test_shape_mismatch_stops_without_falling_back(tmp_path):
  _save(tmp_path, [1])
  _save(tmp_path, [2], meta={**META, "model": {"latent_dim": 6,
                                               "conv_channels": [8, 16]}})
  with pytest.raises(checkpointing.ShapeMismatchError) as e:
    checkpointing.restore_latest(str(tmp_path), _abstract(_state(0)), META)
  assert str(e.value) == (
      "The config does not match the checkpoint in this workdir: "
      "model.latent_dim: checkpoint has 6, config has 4. Use a new workdir "
      "(or --config.init_from=<workdir> to start from its weights).")
  assert _steps_on_disk(tmp_path) == ["1", "2"]


def test_data_version_change_stops_without_falling_back(tmp_path, caplog):
  _save(tmp_path, [1], meta={**META, "data": {"version": "d/2.0.0"}})
  _save(tmp_path, [2])
  new = {**META, "data": {"version": "d/2.0.0"}}
  with pytest.raises(checkpointing.DataVersionError,
                     match="The checkpoint at step 2 was trained on data "
                     "version 'd/1.0.0', this config loads 'd/2.0.0'"):
    checkpointing.restore_latest(str(tmp_path), _abstract(_state(0)), new)
  caplog.set_level(logging.WARNING)
  restored = checkpointing.restore_latest(
      str(tmp_path), _abstract(_state(0)), new, allow_data_change=True)
  assert restored.step == 2 and "resuming anyway" in caplog.text


# -- Retention ----------------------------------------------------------------


@pytest.mark.parametrize("keep_period, kept", [(0, [9, 10]),
                                               (4, [4, 8, 9, 10])])
def test_max_to_keep_and_keep_period(tmp_path, keep_period, kept):
  assert _save(tmp_path, range(1, 11), max_to_keep=2,
               keep_period=keep_period) == kept
  assert _steps_on_disk(tmp_path) == sorted(str(s) for s in kept)


# -- Failed saves -------------------------------------------------------------


def _failing(error: Exception):
  def fail(*args, **kwargs):
    raise error
  return fail


def test_failed_save_names_the_cause_and_newest_complete_step(
    tmp_path, monkeypatch):
  with checkpointing.create_manager(str(tmp_path), max_to_keep=3) as manager:
    checkpointing.save(manager, 1, _state(1), {}, META)
    checkpointing.wait(manager)
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(manager, "save", _failing(full))
    with pytest.raises(checkpointing.CheckpointError) as e:
      checkpointing.save(manager, 2, _state(2), {}, META)
  assert str(e.value) == (
      "Saving a checkpoint failed (OSError: [Errno 28] No space left on "
      f"device); the newest complete checkpoint in {tmp_path}/checkpoints "
      "is step 1.")
  assert e.value.__cause__ is full


def test_failed_wait_is_one_line_and_none_is_complete(tmp_path, monkeypatch):
  with checkpointing.create_manager(str(tmp_path), max_to_keep=3) as manager:
    monkeypatch.setattr(manager, "wait_until_finished", _failing(
        RuntimeError("tensorstore write failed\n  at chunk 7\n  at ...")))
    with pytest.raises(checkpointing.CheckpointError) as e:
      checkpointing.wait(manager)
    monkeypatch.undo()
  assert str(e.value) == (
      "Saving a checkpoint failed (RuntimeError: tensorstore write failed); "
      f"the newest complete checkpoint in {tmp_path}/checkpoints is none.")


# -- restore_params: readers and init_from ------------------------------------


def test_restore_params_newest_or_named_step_in_the_dtype_of_like(tmp_path):
  _save(tmp_path, [1, 2])
  like = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _state(0)["params"])
  step, params = checkpointing.restore_params(str(tmp_path), like)
  assert step == 2
  assert jax.tree.structure(params) == jax.tree.structure(like)
  assert params["dense"]["kernel"].dtype == jnp.bfloat16
  np.testing.assert_array_equal(
      params["dense"]["bias"].astype(jnp.float32), [2.0, 3.0, 4.0])
  step, params = checkpointing.restore_params(str(tmp_path),
                                              _state(0)["params"], step=1)
  assert step == 1
  _assert_state({**_state(1), "params": params}, 1)


def test_restore_params_errors_name_what_is_missing(tmp_path):
  like = _state(0)["params"]
  with pytest.raises(checkpointing.CheckpointError,
                     match="No run directory '.*nowhere'"):
    checkpointing.restore_params(str(tmp_path / "nowhere"), like)
  with pytest.raises(checkpointing.CheckpointError, match="No checkpoint in"):
    checkpointing.restore_params(str(tmp_path), like)
  assert os.listdir(tmp_path) == []
  _save(tmp_path, [1, 2])
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"No checkpoint 5 in .*; found steps \[1, 2\]\."):
    checkpointing.restore_params(str(tmp_path), like, step=5)
  wider = {"dense": {**like["dense"], "kernel": jnp.zeros((3, 3))}}
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"parameter \['dense'\]\['kernel'\] expected shape "
                     r"\(3, 3\), found \(2, 3\)\."):
    checkpointing.restore_params(str(tmp_path), wider)
  extra = {**like, "head": {"kernel": jnp.zeros((3,))}}
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"parameter \['head'\]\['kernel'\] expected shape "
                     r"\(3,\), found None\."):
    checkpointing.restore_params(str(tmp_path), extra)


# -- set_aside_run ------------------------------------------------------------


def test_set_aside_run_moves_everything_but_keep_into_one_folder(
    tmp_path, monkeypatch):
  monkeypatch.setattr(checkpointing.time, "strftime",
                      lambda fmt, t: "20261202T000000Z")
  (tmp_path / "lock").write_text("pid")
  assert checkpointing.set_aside_run(str(tmp_path), keep=("lock",)) is None
  (tmp_path / "checkpoints" / "10").mkdir(parents=True)
  (tmp_path / "metrics.jsonl").write_text('{"step": 10}\n')
  first = checkpointing.set_aside_run(str(tmp_path), keep=("lock",))
  assert first == str(tmp_path / "before_fresh_20261202T000000Z")
  assert sorted(os.listdir(first)) == ["checkpoints", "metrics.jsonl"]
  assert os.path.isdir(os.path.join(first, "checkpoints", "10"))
  (tmp_path / "metrics.jsonl").write_text('{"step": 5}\n')
  second = checkpointing.set_aside_run(str(tmp_path), keep=("lock",))
  assert second == first + "_1"  # Within the same second: a new folder.
  assert os.listdir(second) == ["metrics.jsonl"]
  assert sorted(os.listdir(tmp_path)) == [
      "before_fresh_20261202T000000Z", "before_fresh_20261202T000000Z_1",
      "lock"]
