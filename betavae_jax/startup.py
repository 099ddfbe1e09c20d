"""Start-up and shut-down of a run: signals, restore or initialise, records.

Until the run can start, start-up only reads: a bad config, a checkpoint
that does not fit or a signal stops it with nothing written. Then the
config is recorded (config.json once, the fields changed on each resume in
config_changes.jsonl), and whatever ends the loop, the last save is
finished and the metric files closed.
"""

import json
import os
import signal

from absl import logging
import jax
import ml_collections

from betavae_jax import checkpointing
from betavae_jax import config_diff
from betavae_jax import config_json
from betavae_jax import metric_writer
from betavae_jax import steps
from betavae_jax import workdir_lock

CHANGES_FILE = "config_changes.jsonl"  # Fields changed on each resume.


class Preempted(Exception):
  """SIGTERM or SIGINT arrived before the run wrote anything."""


class Preemption:
  """SIGTERM / SIGINT: an exception during start-up, then a loop flag.

  Until `defer()` nothing has been written, so the signal stops start-up at
  once (`Preempted`). After it the loop checks the flag between steps and
  saves before exiting.
  """

  def __init__(self):
    self.signal = None
    self._deferred = False
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    self.signal = signal.Signals(signum).name
    if not self._deferred:
      raise self._stopped()

  def _stopped(self) -> Preempted:
    return Preempted(f"Received {self.signal} during start-up; stopped "
                     "before training, nothing was written.")

  def defer(self) -> None:
    """From now on a signal only sets the flag the loop checks.

    A signal already received stops start-up here: its exception can have
    been raised inside a callback that ignores exceptions (JAX's gc hook).
    """
    if self.signal is not None:
      raise self._stopped()
    self._deferred = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def run_meta(config, pop, dataset, step: int) -> dict:
  """What a checkpoint records beyond the state: shapes, members, data."""
  return {"model": config.model.to_dict(), "population": pop.to_dict(),
          "image_shape": list(dataset.image_shape),
          "data": {"version": dataset.version},
          "optim": {"name": "adam"},
          "input_position": {"data_seed": config.data.seed, "step": step,
                             "batch_size": config.train.batch_size}}


def initial_state(
    config, model, image_shape, members, workdir, meta,
    state_sh) -> tuple[steps.TrainState, checkpointing.Restored | None]:
  """Restores the newest checkpoint, else initialises (or init_from).

  Reads only: start_fresh ignores the workdir's checkpoints here, and
  `record_start` moves them aside once the run is known to start.
  """
  state = jax.device_put(
      steps.create_population_state(config, model, image_shape,
                                    members), state_sh)
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      state)
  restored = None
  if not config.train.start_fresh:
    restored = checkpointing.restore_latest(
        workdir, abstract, meta,
        allow_data_change=config.data.get("allow_version_change", False))
  if restored is not None:
    logging.info("Resumed from step %d.", int(restored.state.step[0]))
    return restored.state, restored
  if config.init_from:
    _, params = checkpointing.restore_params(config.init_from, state.params)
    logging.info("Initialised parameters from %s.", config.init_from)
    state = state.replace(params=params)
  return state, None


def record_start(config: ml_collections.ConfigDict, workdir: str,
                  restored: checkpointing.Restored | None) -> None:
  """Sets an old run aside (start_fresh) and records the config.

  config.json is the config the run started with and is never rewritten
  by a resume: a resume under changed fields warns, naming old and new
  values, and appends them to config_changes.jsonl, while every checkpoint
  keeps its own segment's config.
  """
  if config.train.start_fresh:
    checkpointing.set_aside_run(workdir, keep=(workdir_lock.LOCK_FILE,))
  path = os.path.join(workdir, config_json.CONFIG_FILE)
  if restored is None or not os.path.exists(path):
    config_json.write(path, config.to_dict(), indent=2)
    return
  saved = restored.config
  if saved is None:  # A checkpoint saved without its config.
    with open(path) as f:
      saved = json.load(f)
  changes = config_diff.config_changes(config_json.upgrade(saved),
                                       config.to_dict())
  for field, old, new in changes:
    if old is config_diff.ABSENT:  # A field newer than the checkpoint.
      logging.info("Resuming at step %d: config.%s is new since the "
                   "checkpoint (%r).", restored.step, field, new)
    else:
      logging.warning("Resuming at step %d with config.%s changed: %r -> "
                      "%r.", restored.step, field, old, new)
  if changes:
    record = {"step": restored.step, "changes": {
        field: {"old": old, "new": new} for field, old, new in changes}}
    with open(os.path.join(workdir, CHANGES_FILE), "a") as f:
      f.write(json.dumps(record, default=str) + "\n")


def shut_down(manager, writer: metric_writer.MetricWriter) -> None:
  """Finishes the in-flight save and closes the files, on every exit.

  After an error (a NaN, a full disk) this still completes the last good
  save; its own failure is logged in one line, not raised over the error
  that ended the loop.
  """
  try:
    manager.close()  # Waits for the in-flight save first.
  except Exception as e:  # pylint: disable=broad-except
    logging.warning("The last save did not finish: %s",
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
  try:
    writer.close()
  except OSError as e:
    logging.warning("Could not close the metric files: %s", e)
