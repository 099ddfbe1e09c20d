"""Kill, preempt, corrupt, misconfigure and poison a run; nothing is lost.

Each test drives the real CLI in a subprocess, as a preempted job would be.
"""

import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from betavae_jax import metric_writer

_ONE_DEVICE = jax.sharding.SingleDeviceSharding(jax.devices()[0])
ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # Every test runs main in a subprocess.
# Long enough to be killed mid-run, short enough for CI.
LONG = ["--config.train.num_train_steps=400",
        "--config.train.checkpoint_every_steps=50",
        "--config.train.log_every_steps=10",
        "--config.train.eval_every_steps=0"]


def _cmd(workdir, *overrides):
  return [sys.executable, "-m", "betavae_jax.main",
          "--config=configs/test.py", f"--workdir={workdir}", *overrides]


def _run(workdir, *overrides, env=None):
  return subprocess.run(_cmd(workdir, *overrides), cwd=ROOT, text=True,
                        capture_output=True, timeout=600,
                        env=dict(os.environ, **(env or {})))


def _start_and_wait(workdir, min_step, *overrides):
  """Starts a run and returns once its metrics log has passed `min_step`."""
  proc = subprocess.Popen(_cmd(workdir, *overrides), cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  path = os.path.join(workdir, metric_writer.METRICS_FILE)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(path):
      steps = [r["step"] for r in metric_writer.read_metrics(str(workdir))]
      if steps and steps[-1] >= min_step:
        return proc
    time.sleep(0.02)
  proc.kill()
  raise AssertionError(f"run did not reach step {min_step}: "
                       f"{proc.communicate()[1][-2000:]}")


def _final_params(workdir):
  with ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                             item_names=("state", "config", "meta")) as m:
    step = m.latest_step()
    state = m.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(fallback_sharding=_ONE_DEVICE))).state
  return step, state["params"]


def _assert_bitwise_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert np.array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("uninterrupted")
  proc = _run(workdir, *LONG)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_sigkill_then_resume_is_bitwise_equal(tmp_path, uninterrupted):
  proc = _start_and_wait(tmp_path, 120, *LONG)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert (tmp_path / "checkpoints").exists()
  resumed = _run(tmp_path, *LONG)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Resumed from step" in resumed.stderr
  step_a, a = _final_params(uninterrupted)
  step_b, b = _final_params(tmp_path)
  assert step_a == step_b == 400
  _assert_bitwise_equal(a, b)
  steps = [r["step"] for r in metric_writer.read_metrics(str(tmp_path))]
  assert steps == list(range(10, 401, 10))  # No duplicated or missing steps.


def test_sigterm_saves_and_exits_zero(tmp_path):
  proc = _start_and_wait(tmp_path, 60, *LONG)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-3000:]
  assert "Received SIGTERM: saved step" in err
  saved = int(err.split("saved step ")[1].split()[0])
  assert 60 <= saved < 400
  assert str(saved) in os.listdir(tmp_path / "checkpoints")


def _corrupt(step_dir: pathlib.Path) -> None:
  """Truncates every array file of a checkpoint, as a full disk would."""
  for path in (step_dir / "state").rglob("*"):
    if path.is_file() and "manifest" not in path.name and path.stat().st_size:
      path.write_bytes(path.read_bytes()[:7])


def test_corrupt_newest_checkpoint_falls_back(tmp_path):
  first = _run(tmp_path, "--config.train.num_train_steps=20")
  assert first.returncode == 0, first.stderr[-3000:]
  _corrupt(tmp_path / "checkpoints" / "20")
  resumed = _run(tmp_path, "--config.train.num_train_steps=30")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Checkpoint at step 20" in resumed.stderr
  assert "Resuming from step 10 instead of unreadable step(s) [20]" in (
      resumed.stderr)
  assert _final_params(tmp_path)[0] == 30


def test_all_checkpoints_unreadable_stops(tmp_path):
  first = _run(tmp_path, "--config.train.num_train_steps=10")
  assert first.returncode == 0, first.stderr[-3000:]
  _corrupt(tmp_path / "checkpoints" / "10")
  again = _run(tmp_path, "--config.train.num_train_steps=20")
  assert again.returncode != 0
  assert "No readable checkpoint" in again.stderr
  fresh = _run(tmp_path, "--config.train.num_train_steps=20",
               "--config.train.start_fresh=True")
  assert fresh.returncode == 0, fresh.stderr[-3000:]


@pytest.mark.parametrize("override, message", [
    ("--config.objective.beta=-1", "config.objective.beta=-1.0 is invalid"),
    ("--config.objective.capacity.gamma=-5",
     "config.objective.capacity.gamma=-5.0 is invalid"),
    ("--config.model.latent_dim=0", "config.model.latent_dim=0 is invalid"),
    ("--config.train.batch_size=0", "config.train.batch_size=0 is invalid"),
    ("--config.model.name=resnet", "config.model.name='resnet' is invalid"),
    ("--config.model.kernel_init=zeros",
     "config.model.kernel_init='zeros' is invalid"),
    ("--config.objective.likelihood=poisson",
     "config.objective.likelihood='poisson' is invalid"),
    ("--config.objective.beta_schedule.name=exp",
     "config.objective.beta_schedule.name='exp' is invalid"),
    ("--config.data.name=nosuchdata", "nosuchdata"),
    ("--config.model.conv_channels=(8,8,8,8,8,8,8)",
     "config.model.conv_channels"),
])
def test_config_errors_exit_2_and_write_nothing(tmp_path, override, message):
  workdir = tmp_path / "run"
  proc = _run(workdir, override)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()


def test_typo_in_field_fails_loudly(tmp_path):
  proc = _run(tmp_path / "run", "--config.objective.betta=3")
  assert proc.returncode != 0
  assert "betta" in proc.stderr


def test_nan_stops_with_named_step_and_member(tmp_path):
  proc = _run(tmp_path, "--config.optim.learning_rate=1e30",
              "--config.population.betas=(1.0,4.0)")
  assert proc.returncode == 1
  assert "Non-finite loss or gradient at step" in proc.stderr
  assert "population member" in proc.stderr


def test_shape_mismatch_names_fields(tmp_path):
  assert _run(tmp_path, "--config.train.num_train_steps=10").returncode == 0
  proc = _run(tmp_path, "--config.train.num_train_steps=20",
              "--config.model.latent_dim=6")
  assert proc.returncode == 2
  assert "model.latent_dim: checkpoint has 4, config has 6" in proc.stderr


def test_init_from_another_run(tmp_path):
  source = tmp_path / "source"
  assert _run(source, "--config.train.num_train_steps=10").returncode == 0
  proc = _run(tmp_path / "new", "--config.train.num_train_steps=1",
              "--config.optim.learning_rate=1e-12",
              f"--config.init_from={source}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  _, src = _final_params(str(source))
  _, new = _final_params(str(tmp_path / "new"))
  for x, y in zip(jax.tree.leaves(src), jax.tree.leaves(new)):
    np.testing.assert_allclose(x, y, atol=1e-6)


def test_unwritable_workdir_fails_at_start(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  proc = _run(blocker / "run")
  assert proc.returncode == 2
  assert "is not writable" in proc.stderr


def test_save_on_one_device_restore_on_eight(tmp_path):
  assert _run(tmp_path, "--config.train.num_train_steps=10").returncode == 0
  proc = _run(tmp_path, "--config.train.num_train_steps=20", env={
      "XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Resumed from step 10" in proc.stderr
  assert _final_params(tmp_path)[0] == 20
