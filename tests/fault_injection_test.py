"""Faults around the train loop: nothing a second process, a bad value, a
corrupt checkpoint, a full disk or a signal does may destroy a run's data.

In-process on the tiny config where the CLI adds nothing; a subprocess
where the fault is the process itself (two trainers, a signal at start-up,
exit statuses). docs/robustness.md names each guarantee and its test.
"""

import dataclasses
import errno
import hashlib
import json
import logging
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import ml_collections
import orbax.checkpoint as ocp
import pytest
from tensorboardX.proto import event_pb2

from betavae_jax import checkpointing
from betavae_jax import config_validation
from betavae_jax import input_pipeline
from betavae_jax import metric_writer
from betavae_jax import reporting
from betavae_jax import startup
from betavae_jax import train
from betavae_jax import trained_run
from betavae_jax import workdir_lock
from betavae_jax.datasets import dsprites_builder
import conftest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _config(steps: int = 20, **train_fields) -> ml_collections.ConfigDict:
  config = conftest.load_config("test")
  config.train.num_train_steps = steps
  config.train.eval_every_steps = 0
  config.train.update(train_fields)
  return config


def _snapshot(directory: pathlib.Path) -> dict[str, str]:
  """Every file under `directory` with a digest of its bytes."""
  return {str(p.relative_to(directory)):
          hashlib.sha1(p.read_bytes()).hexdigest()
          for p in sorted(directory.rglob("*")) if p.is_file()}


def _cli(module: str, *args, **kw) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> pathlib.Path:
  """A finished 20-step run with checkpoints 10 and 20; copy before use."""
  workdir = tmp_path_factory.mktemp("trained")
  train.train_and_evaluate(_config(), str(workdir))
  return workdir


@pytest.fixture
def run_copy(trained, tmp_path) -> pathlib.Path:
  workdir = tmp_path / "run"
  shutil.copytree(trained, workdir)
  return workdir


# -- The workdir lock ---------------------------------------------------------


def test_lock_names_its_holder_and_is_released(tmp_path):
  workdir = tmp_path / "run"
  with workdir_lock.hold(str(workdir)):
    with pytest.raises(workdir_lock.WorkdirBusyError,
                       match=f"pid {os.getpid()} on host"):
      with workdir_lock.hold(str(workdir)):
        pass
  assert not workdir.exists()  # Created by the lock, left empty: removed.
  workdir.mkdir()
  (workdir / "keep").write_text("x")
  with workdir_lock.hold(str(workdir)):
    pass
  assert os.listdir(workdir) == ["keep"]


def test_lock_outlives_no_process(tmp_path):
  """A SIGKILLed holder leaves a lock file that binds no one."""
  code = ("import sys, time; from betavae_jax import workdir_lock\n"
          "with workdir_lock.hold(sys.argv[1]):\n"
          "  print('held', flush=True); time.sleep(60)\n")
  proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)
  assert proc.stdout.readline().strip() == "held"
  with pytest.raises(workdir_lock.WorkdirBusyError, match=f"pid {proc.pid}"):
    with workdir_lock.hold(str(tmp_path)):
      pass
  proc.kill()
  proc.wait()
  assert (tmp_path / workdir_lock.LOCK_FILE).exists()
  with workdir_lock.hold(str(tmp_path)):
    pass


@pytest.mark.slow
def test_second_trainer_exits_2_and_touches_nothing(tmp_path):
  """The live run keeps its checkpoints, config and every metrics record."""
  args = ["--config=configs/test.py", f"--workdir={tmp_path}",
          "--config.train.num_train_steps=100000",
          "--config.train.checkpoint_every_steps=50",
          "--config.train.log_every_steps=10",
          "--config.train.eval_every_steps=0"]
  first = subprocess.Popen([sys.executable, "-m", "betavae_jax.main", *args],
                           cwd=ROOT, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 300
    metrics = tmp_path / metric_writer.METRICS_FILE
    while not (metrics.exists() and metrics.read_text().count("\n") >= 5):
      assert time.time() < deadline and first.poll() is None
      time.sleep(0.1)
    config_before = (tmp_path / "config.json").read_bytes()
    second = _cli("betavae_jax.main", *args,
                  "--config.optim.learning_rate=0.1",
                  "--config.train.start_fresh=True")
    assert second.returncode == 2, second.stderr[-3000:]
    assert f"is in use by pid {first.pid} on host" in second.stderr
    assert "Traceback" not in second.stderr
    assert (tmp_path / "config.json").read_bytes() == config_before
    assert not [n for n in os.listdir(tmp_path)
                if n.startswith(checkpointing.SET_ASIDE_PREFIX)]
  finally:
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=300)
  assert first.returncode == 0, err[-3000:]
  steps = [r["step"] for r in metric_writer.read_metrics(str(tmp_path))]
  assert steps == list(range(10, steps[-1] + 1, 10))


# -- Nothing is written until the run can start -------------------------------


INVALID = [
    ("train.max_checkpoints_to_keep", 0),
    ("train.max_checkpoints_to_keep", -1),
    ("model.conv_channels", (8, -8, 16)),
    ("model.dense_sizes", (-32,)),
    ("model.kernel_size", 0),
    ("data.seed", -1),
    ("data.split_seed", -1),
    ("population.betas", ("abc",)),
    ("population.seeds", (0.5,)),
    ("optim.b1", 1.5),
    ("train.eval_num_examples", -1),
    ("model.conv_channels", (8,) * 7),  # Found only once the data is loaded.
]


@pytest.mark.parametrize("field, value", INVALID)
def test_invalid_value_is_one_line_and_touches_nothing(tmp_path, field,
                                                       value):
  existing = tmp_path / "existing"
  existing.mkdir()
  (existing / "notes.txt").write_text("the user's")
  config = _config()
  section, name = field.split(".")
  config[section][name] = value
  for workdir in (existing, tmp_path / "new"):
    with pytest.raises((config_validation.ConfigError,
                        input_pipeline.DataError)) as e:
      train.train_and_evaluate(config, str(workdir))
    assert f"config.{field}" in str(e.value)
    assert "\n" not in str(e.value)
  assert os.listdir(existing) == ["notes.txt"]
  assert (existing / "notes.txt").read_text() == "the user's"
  assert not (tmp_path / "new").exists()


def test_unknown_field_in_a_config_file_is_rejected(tmp_path):
  config = _config()
  config.train.batchsize = 32  # Misspelt: would be ignored.
  with pytest.raises(config_validation.ConfigError,
                     match="config.train.batchsize=32 is invalid: is not a "
                     "known field"):
    train.train_and_evaluate(config, str(tmp_path / "run"))


@pytest.mark.parametrize("override, message", [
    ("--config.objective.betta=3", "unknown field 'betta'"),
    ("--config.train.batch_size=abc", "config.train.batch_size=abc"),
    ("--config.population.betas=abc", "config.population.betas=('abc',)"),
])
@pytest.mark.slow
def test_cli_bad_override_is_a_config_error(tmp_path, override, message):
  proc = _cli("betavae_jax.main", "--config=configs/test.py",
              f"--workdir={tmp_path / 'run'}", override)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert [line for line in proc.stderr.splitlines()
          if line.startswith("Config error")] == [
              proc.stderr.strip().splitlines()[-1]]
  assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_rejected_resume_leaves_the_workdir_untouched(run_copy, tmp_path):
  before = _snapshot(run_copy)
  shape_change = _config(30)
  shape_change.model.latent_dim = 6
  with pytest.raises(checkpointing.ShapeMismatchError, match="latent_dim"):
    train.train_and_evaluate(shape_change, str(run_copy))
  missing_source = _config(30)
  missing_source.init_from = str(tmp_path / "nowhere")
  missing_source.train.start_fresh = True
  with pytest.raises(checkpointing.CheckpointError, match="nowhere"):
    train.train_and_evaluate(missing_source, str(run_copy))
  assert _snapshot(run_copy) == before
  assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_changed_field_warns_and_keeps_history(run_copy, caplog):
  started = (run_copy / "config.json").read_bytes()
  config = _config(30)
  config.optim.learning_rate = 2e-3
  caplog.set_level(logging.WARNING)
  train.train_and_evaluate(config, str(run_copy))
  assert "config.optim.learning_rate changed: 0.001 -> 0.002" in caplog.text
  assert (run_copy / "config.json").read_bytes() == started
  record = json.loads((run_copy / startup.CHANGES_FILE).read_text())
  assert record["step"] == 20
  assert record["changes"]["optim.learning_rate"] == {"old": 0.001,
                                                      "new": 0.002}
  with checkpointing.reader(str(run_copy)) as manager:
    def saved_lr(step):
      return manager.restore(step, args=ocp.args.Composite(
          config=ocp.args.JsonRestore())).config["optim"]["learning_rate"]
    assert (saved_lr(20), saved_lr(30)) == (0.001, 0.002)


@pytest.mark.slow
def test_start_fresh_moves_the_whole_run_aside(run_copy):
  old_records = (run_copy / metric_writer.METRICS_FILE).read_text()
  old_names = sorted(os.listdir(run_copy))
  train.train_and_evaluate(_config(10, start_fresh=True), str(run_copy))
  aside = [n for n in os.listdir(run_copy)
           if n.startswith(checkpointing.SET_ASIDE_PREFIX)]
  assert len(aside) == 1
  assert sorted(os.listdir(run_copy / aside[0])) == old_names
  assert (run_copy / aside[0] / metric_writer.METRICS_FILE).read_text() == (
      old_records)
  assert sorted(os.listdir(run_copy / aside[0] / "checkpoints")) == [
      "10", "20"]
  steps = [r["step"] for r in metric_writer.read_metrics(str(run_copy))]
  assert steps == [5, 10]
  assert sorted(os.listdir(run_copy / "checkpoints")) == ["10"]


# -- The data version ---------------------------------------------------------


def _other_data_version(monkeypatch, version: str) -> None:
  load = input_pipeline.load_dataset
  monkeypatch.setattr(input_pipeline, "load_dataset", lambda c: (
      dataclasses.replace(load(c), version=version)))


@pytest.mark.slow
def test_resume_on_other_data_stops_unless_allowed(run_copy, monkeypatch,
                                                   caplog):
  before = _snapshot(run_copy)
  _other_data_version(monkeypatch, "betavae_dsprites/rendered/2.0.0")
  with pytest.raises(checkpointing.DataVersionError) as e:
    train.train_and_evaluate(_config(30), str(run_copy))
  message = str(e.value)
  for part in ("'synthetic'", "'betavae_dsprites/rendered/2.0.0'",
               "--config.data.version=synthetic",
               "--config.data.allow_version_change=True"):
    assert part in message
  assert _snapshot(run_copy) == before
  config = _config(30)
  config.data.allow_version_change = True
  caplog.set_level(logging.WARNING)
  train.train_and_evaluate(config, str(run_copy))
  assert "resuming anyway" in caplog.text


def test_data_version_checks():
  new = {"data": {"version": "d/2.0.0"}}
  checkpointing.check_data_version(5, {"data": {"version": "d/2.0.0"}}, new,
                                   False)
  checkpointing.check_data_version(5, {}, new, False)  # Before the field.
  with pytest.raises(checkpointing.DataVersionError,
                     match=r"--config.data.version=1.0.0"):
    checkpointing.check_data_version(5, {"data": {"version": "d/1.0.0"}},
                                     new, False)
  checkpointing.check_data_version(5, {"data": {"version": "d/1.0.0"}}, new,
                                   True)


# -- Readers: evaluate, visualize, init_from ----------------------------------


def _corrupt(step_dir: pathlib.Path) -> None:
  for path in (step_dir / "state").rglob("*"):
    if path.is_file() and "manifest" not in path.name and path.stat().st_size:
      path.write_bytes(path.read_bytes()[:7])


def test_reader_falls_back_past_a_corrupt_newest_checkpoint(run_copy,
                                                            caplog):
  _corrupt(run_copy / "checkpoints" / "20")
  before = _snapshot(run_copy)
  caplog.set_level(logging.WARNING)
  run = trained_run.load(str(run_copy))
  assert run.step == 10
  assert "Checkpoint at step 20" in caplog.text
  with pytest.raises(checkpointing.CheckpointError,
                     match="Checkpoint 20 .* is unreadable") as e:
    trained_run.load(str(run_copy), step=20)
  assert "\n" not in str(e.value)
  assert _snapshot(run_copy) == before


@pytest.mark.slow
def test_readers_create_nothing_in_a_run_without_checkpoints(run_copy):
  shutil.rmtree(run_copy / "checkpoints")
  before = sorted(os.listdir(run_copy))
  with pytest.raises(checkpointing.CheckpointError, match="No checkpoint"):
    trained_run.load(str(run_copy))
  config = _config(1)
  config.init_from = str(run_copy)
  with pytest.raises(checkpointing.CheckpointError, match="No checkpoint"):
    train.train_and_evaluate(config, str(run_copy.parent / "new"))
  assert sorted(os.listdir(run_copy)) == before


@pytest.mark.parametrize("module", ["betavae_jax.visualize",
                                    "betavae_jax.evaluate"])
@pytest.mark.slow
def test_reader_cli_on_a_missing_or_empty_workdir(tmp_path, module):
  missing = _cli(module, f"--workdir={tmp_path / 'missing'}")
  assert missing.returncode == 2, missing.stderr[-3000:]
  assert "No run directory" in missing.stderr
  assert "Traceback" not in missing.stderr
  assert not (tmp_path / "missing").exists()
  empty = _cli(module, f"--workdir={tmp_path}")
  assert empty.returncode == 2, empty.stderr[-3000:]
  assert "has no config.json" in empty.stderr
  assert not os.listdir(tmp_path)


# -- Errors in the loop -------------------------------------------------------


@pytest.mark.slow
def test_nan_flushes_the_records_and_finishes_the_last_save(tmp_path):
  config = _config(20, checkpoint_every_steps=1, log_every_steps=5)
  config.optim.learning_rate = 1e30
  with pytest.raises(reporting.NonFiniteError, match="at step 2 in") as e:
    train.train_and_evaluate(config, str(tmp_path))
  assert "\n" not in str(e.value)
  records = metric_writer.read_metrics(str(tmp_path))
  assert [r["step"] for r in records] == [1, 2]
  assert records[1]["train/loss"] is None  # The non-finite step itself.
  with checkpointing.reader(str(tmp_path)) as manager:
    assert manager.all_steps() == [1]  # Finished, not abandoned.


def _fail_saving_at(monkeypatch, step: int) -> None:
  """A full disk from `step` on: Orbax's save raises ENOSPC."""
  save = ocp.CheckpointManager.save

  def full(self, at, *args, **kwargs):
    if at >= step:
      raise OSError(errno.ENOSPC, "No space left on device")
    return save(self, at, *args, **kwargs)
  monkeypatch.setattr(ocp.CheckpointManager, "save", full)


@pytest.mark.slow
def test_full_disk_is_one_line_naming_the_last_good_checkpoint(
    tmp_path, monkeypatch):
  _fail_saving_at(monkeypatch, 20)
  with pytest.raises(checkpointing.CheckpointError) as e:
    train.train_and_evaluate(_config(), str(tmp_path))
  message = str(e.value)
  assert "No space left on device" in message
  assert "newest complete checkpoint" in message and "is step 10" in message
  assert "\n" not in message
  monkeypatch.undo()
  resumed = _config(20)
  assert int(train.train_and_evaluate(resumed, str(tmp_path)).step[0]) == 20


def test_failed_metrics_rewrite_leaves_no_tmp(tmp_path, monkeypatch):
  path = tmp_path / metric_writer.METRICS_FILE
  path.write_text('{"step": 5}\n{"step": 10}\n')

  def full(*args):
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(metric_writer.os, "replace", full)
  with pytest.raises(OSError):
    metric_writer.MetricWriter(str(tmp_path), start_step=5)
  assert sorted(os.listdir(tmp_path)) == [metric_writer.METRICS_FILE]
  assert path.read_text() == '{"step": 5}\n{"step": 10}\n'


def _events(directory: pathlib.Path) -> list:
  """Every event of the TensorBoard files in `directory`, in file order."""
  events = []
  for path in sorted(directory.glob("events.*")):
    data, offset = path.read_bytes(), 0
    while offset < len(data):
      length = int.from_bytes(data[offset:offset + 8], "little")
      event = event_pb2.Event()
      event.ParseFromString(data[offset + 12:offset + 12 + length])
      events.append(event)
      offset += 12 + length + 4
  return events


def test_resumed_writer_purges_tensorboard_past_the_restored_step(tmp_path):
  writer = metric_writer.MetricWriter(str(tmp_path), start_step=10)
  writer.write_scalars(11, {"train/loss": 1.0})
  writer.close()
  starts = [e.step for e in _events(tmp_path / "tensorboard")
            if e.HasField("session_log")
            and e.session_log.status == e.session_log.START]
  assert starts == [11]


# -- Signals and housekeeping -------------------------------------------------


@pytest.mark.slow
def test_sigterm_during_start_up_exits_0_and_writes_nothing(tmp_path):
  for wait_for in (None, "Workdir:"):  # While importing; after.
    proc = subprocess.Popen(
        [sys.executable, "-m", "betavae_jax.main", "--config=configs/test.py",
         f"--workdir={tmp_path / 'run'}"], cwd=ROOT, stderr=subprocess.PIPE,
        text=True)
    if wait_for is None:
      time.sleep(0.5)
    else:
      while wait_for not in proc.stderr.readline():
        assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_stale_incomplete_dataset_dirs_are_removed(tmp_path):
  parent = tmp_path / "betavae_dsprites" / "rendered"
  stale = parent / "incomplete.ABC123_1.0.0"
  live = parent / "incomplete.XYZ789_1.0.0"
  other = parent / "incomplete.QRS456_2.0.0"
  for directory in (stale, live, other):
    directory.mkdir(parents=True)
    (directory / "shard").write_bytes(b"x")
  old = time.time() - 2 * dsprites_builder.STALE_INCOMPLETE_S
  for path in (stale / "shard", stale, other / "shard", other):
    os.utime(path, (old, old))
  dsprites_builder.remove_stale_incomplete(str(parent / "1.0.0"))
  assert sorted(os.listdir(parent)) == [other.name, live.name]
