"""metric_writer's contract: JSONL records as written, strict JSON for
non-finite values, TensorBoard tags, and a clean continuation on resume.

TensorBoard itself is replaced by a recorder where the test is about what
is sent to it; fault_injection_test.py reads real event files for the purge.
"""

import json
import logging
import math

from absl import logging as absl_logging
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import metric_writer


class _Recorder:
  """Stands in for tensorboardX.SummaryWriter, keeping every call."""

  instances = []

  def __init__(self, logdir: str, purge_step: int | None = None):
    self.logdir, self.purge_step = logdir, purge_step
    self.scalars, self.images, self.closed = [], [], False
    _Recorder.instances.append(self)

  def add_scalar(self, tag, value, step):
    self.scalars.append((tag, value, step))

  def add_image(self, tag, image, step, dataformats):
    self.images.append((tag, image.shape, step, dataformats))

  def flush(self):
    pass

  def close(self):
    self.closed = True


@pytest.fixture
def tensorboard(monkeypatch):
  _Recorder.instances = []
  monkeypatch.setattr(metric_writer.tensorboardX, "SummaryWriter", _Recorder)
  return _Recorder.instances


def _write(workdir, start_step: int, records: dict[int, dict]) -> None:
  writer = metric_writer.MetricWriter(str(workdir), start_step)
  for step, scalars in records.items():
    writer.write_scalars(step, scalars)
  writer.close()


def test_records_are_readable_as_soon_as_written(tmp_path, tensorboard):
  workdir = tmp_path / "new" / "run"  # Created by the writer.
  writer = metric_writer.MetricWriter(str(workdir))
  writer.write_scalars(np.int64(5), {"train/loss": np.float32(1.5),
                                     "eval/elbo": jnp.array(-2.25),
                                     "train/active_latents": 3})
  records = metric_writer.read_metrics(str(workdir))  # Before close.
  assert records == [{"step": 5, "train/loss": 1.5, "eval/elbo": -2.25,
                      "train/active_latents": 3.0}]
  assert [type(v) for v in records[0].values()] == [int, float, float, float]
  writer.close()
  assert tensorboard[0].closed
  assert tensorboard[0].logdir == str(workdir / "tensorboard")


def test_non_finite_values_are_null_in_strict_json(tmp_path, tensorboard):
  _write(tmp_path, 0, {5: {"a": float("nan"), "b": np.float32("inf"),
                           "c": -math.inf, "d": 0.0}})
  line = (tmp_path / metric_writer.METRICS_FILE).read_text()

  def no_constants(name):
    raise AssertionError(f"{name} is not JSON")
  assert json.loads(line, parse_constant=no_constants) == {
      "step": 5, "a": None, "b": None, "c": None, "d": 0.0}
  # TensorBoard draws them as such.
  values = {tag: value for tag, value, _ in tensorboard[0].scalars}
  assert math.isnan(values["a"]) and values["b"] == math.inf
  assert values["c"] == -math.inf


def test_member_names_keep_their_suffix_in_jsonl_only(tmp_path, tensorboard):
  """TensorBoard tags allow no '=' or ','; the JSONL keeps the real name."""
  _write(tmp_path, 0, {10: {"eval/kl/beta=4,seed=1": 2.0, "train/loss": 1.0}})
  assert metric_writer.read_metrics(str(tmp_path)) == [
      {"step": 10, "eval/kl/beta=4,seed=1": 2.0, "train/loss": 1.0}]
  assert tensorboard[0].scalars == [("eval/kl/beta_4_seed_1", 2.0, 10),
                                    ("train/loss", 1.0, 10)]


def test_images_go_to_tensorboard_as_hwc(tmp_path, tensorboard):
  writer = metric_writer.MetricWriter(str(tmp_path))
  writer.write_images(20, {"traversal/beta=4": np.zeros((8, 16, 3)),
                           "recon": [[[0.5]]]})
  writer.close()
  assert tensorboard[0].images == [("traversal/beta_4", (8, 16, 3), 20, "HWC"),
                                   ("recon", (1, 1, 1), 20, "HWC")]
  assert metric_writer.read_metrics(str(tmp_path)) == []


def test_a_restart_appends_after_the_restored_step(tmp_path, tensorboard):
  _write(tmp_path, 0, {5: {"x": 1.0}, 10: {"x": 2.0}})
  first = (tmp_path / metric_writer.METRICS_FILE).read_text()
  _write(tmp_path, 10, {15: {"x": 3.0}, 20: {"x": 4.0}})
  assert (tmp_path / metric_writer.METRICS_FILE).read_text().startswith(first)
  assert [(r["step"], r["x"]) for r in metric_writer.read_metrics(
      str(tmp_path))] == [(5, 1.0), (10, 2.0), (15, 3.0), (20, 4.0)]
  # TensorBoard hides what the first run wrote past the restored step.
  assert [t.purge_step for t in tensorboard] == [1, 11]


def test_a_resume_drops_records_past_its_step(tmp_path, tensorboard):
  """Steps past the checkpoint are written again, and only once."""
  path = tmp_path / metric_writer.METRICS_FILE
  path.write_text('{"step": 5, "x": 1}\n{"step": 10, "x": 2}\n'
                  '{"step": 15, "x": 3}\n{"step": 20, "x"')  # Killed.
  _write(tmp_path, 10, {15: {"x": 30.0}})
  assert path.read_text() == ('{"step": 5, "x": 1}\n{"step": 10, "x": 2}\n'
                              '{"step": 15, "x": 30.0}\n')


def test_a_last_record_without_newline_is_kept_whole(tmp_path, tensorboard):
  path = tmp_path / metric_writer.METRICS_FILE
  path.write_text('{"step": 5, "x": 1}\n{"step": 10, "x": 2}')
  _write(tmp_path, 10, {15: {"x": 3.0}})
  assert [r["step"] for r in metric_writer.read_metrics(str(tmp_path))] == [
      5, 10, 15]


def test_a_run_from_step_zero_starts_the_file_over(tmp_path, tensorboard):
  (tmp_path / metric_writer.METRICS_FILE).write_text('{"step": 5}\n\n')
  _write(tmp_path, 0, {5: {"x": 9.0}})
  assert metric_writer.read_metrics(str(tmp_path)) == [{"step": 5, "x": 9.0}]


def test_read_metrics_skips_blank_lines_and_needs_the_file(tmp_path):
  with pytest.raises(FileNotFoundError):
    metric_writer.read_metrics(str(tmp_path))
  (tmp_path / metric_writer.METRICS_FILE).write_text(
      '{"step": 1}\n\n  \n{"step": 2}\n')
  assert metric_writer.read_metrics(str(tmp_path)) == [{"step": 1},
                                                       {"step": 2}]


def test_read_metrics_skips_a_last_line_cut_short_only(tmp_path):
  path = tmp_path / metric_writer.METRICS_FILE
  path.write_text('{"step": 5}\n{"step": 10, "x"')  # Killed mid-write.
  assert metric_writer.read_metrics(str(tmp_path)) == [{"step": 5}]
  path.write_text('{"step": 5}\n{"step": 10, "x"\n')  # A whole bad line.
  with pytest.raises(json.JSONDecodeError):
    metric_writer.read_metrics(str(tmp_path))


def test_real_tensorboard_events_are_written(tmp_path):
  _write(tmp_path, 0, {1: {"train/loss/beta=1": 1.0}})
  events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
  assert len(events) == 1 and b"train/loss/beta_1" in events[0].read_bytes()


def _record(pathname: str, level: int) -> logging.LogRecord:
  return logging.LogRecord("absl", level, pathname, 1, "m", (), None)


def test_quiet_library_logs_drops_only_orbax_info():
  handler = absl_logging.get_absl_handler()
  before = list(handler.filters)
  metric_writer.quiet_library_logs()
  try:
    orbax = "/site-packages/orbax/checkpoint/checkpoint_manager.py"
    assert not handler.filter(_record(orbax, logging.INFO))
    assert handler.filter(_record(orbax, logging.WARNING))
    assert handler.filter(_record("/work/betavae_jax/train.py",
                                  logging.INFO))
  finally:
    for added in [f for f in handler.filters if f not in before]:
      handler.removeFilter(added)
