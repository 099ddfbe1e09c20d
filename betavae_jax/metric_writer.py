"""Writes metrics to the console, a JSON-lines file and TensorBoard.

The JSON-lines file (`metrics.jsonl`, one record per log step) is what
`experiments/` aggregates across beta x seed sweeps; TensorBoard events go
through tensorboardX so that no TensorFlow is needed.
"""

import json
import logging
import math
import os

from absl import logging as absl_logging

import numpy as np
import tensorboardX

METRICS_FILE = "metrics.jsonl"


class _LibraryInfoFilter(logging.Filter):
  """Drops Orbax's INFO chatter (several lines per save); warnings pass."""

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or (
        "/orbax/" not in record.pathname)


def quiet_library_logs() -> None:
  """Keeps the console to our own progress lines (`process.setup()`)."""
  absl_logging.get_absl_handler().addFilter(_LibraryInfoFilter())


def truncate_after(path: str, step: int) -> None:
  """Drops records past `step`, which a resumed run is about to write again."""
  if not os.path.exists(path):
    return
  kept = []
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:  # A line cut short by a kill.
        continue
      if record.get("step", 0) <= step:
        kept.append(line if line.endswith("\n") else line + "\n")
  tmp = path + ".tmp"
  try:
    with open(tmp, "w") as f:
      f.writelines(kept)
    os.replace(tmp, path)
  except OSError:  # A full disk: leave the old file, not a stale copy.
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _tb_name(name: str) -> str:
  """TensorBoard tags allow no '=' or ','; member names have both."""
  return name.replace("=", "_").replace(",", "_")


def _jsonable(value):
  """Floats for JSON; NaN and inf become null rather than invalid JSON."""
  value = float(value)
  return value if math.isfinite(value) else None


class MetricWriter:
  """Console + JSONL + TensorBoard, continuing cleanly after a resume.

  A run resumed from step s writes steps s+1... again: the JSONL records
  past s are dropped, and TensorBoard is told (a purge at s+1) to hide the
  earlier events past s, so neither shows a step twice.
  """

  def __init__(self, workdir: str, start_step: int = 0):
    os.makedirs(workdir, exist_ok=True)
    self._jsonl_path = os.path.join(workdir, METRICS_FILE)
    truncate_after(self._jsonl_path, start_step)
    self._jsonl = open(self._jsonl_path, "a")
    self._tb = tensorboardX.SummaryWriter(
        os.path.join(workdir, "tensorboard"), purge_step=start_step + 1)

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    """One JSONL record and one TensorBoard scalar per name."""
    record = {"step": int(step)}
    record.update({k: _jsonable(v) for k, v in scalars.items()})
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tb.add_scalar(_tb_name(name), float(value), step)

  def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
    """HWC images in [0, 1], e.g. reconstruction grids and traversals."""
    for name, image in images.items():
      self._tb.add_image(_tb_name(name), np.asarray(image), step,
                         dataformats="HWC")

  def flush(self) -> None:
    self._jsonl.flush()
    self._tb.flush()

  def close(self) -> None:
    self._jsonl.close()
    self._tb.close()


def read_metrics(workdir: str) -> list[dict]:
  """Loads the JSONL records of a run (for analysis and tests).

  A last line cut short by a kill or a full disk is skipped, as a resume
  drops it, so a killed run reads as far as it got.
  """
  with open(os.path.join(workdir, METRICS_FILE)) as f:
    lines = [line for line in f if line.strip()]
  records = [json.loads(line) for line in lines[:-1]]
  if lines:
    try:
      records.append(json.loads(lines[-1]))
    except json.JSONDecodeError:
      if lines[-1].endswith("\n"):  # Whole lines are whole records.
        raise
  return records
