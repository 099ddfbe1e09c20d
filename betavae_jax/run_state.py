"""A run's newest resumable state as one folder that can travel.

A workdir holds more than a resume needs (older checkpoints, TensorBoard
events, figures) and lives on one machine, so a long run trained in
stretches on machines that do not keep their disks would be lost with its
workdir. `write` copies exactly what a bitwise resume needs into a folder
(for example one kept in a git repository): the newest complete checkpoint
(parameters, optimiser state, step, the config and the run metadata with
the data version), the run's config.json and config-change records, and
the metrics logged up to that step. `continue_into` puts such a folder back
as a workdir where the workdir is missing or behind it, on any machine and
backend (the restore reshards what Orbax saved).

A state is written whole or not at all: into a sibling folder first, then
swapped in by two renames, so a kill at any point leaves the previous state
(or, between the renames, its `.previous` copy) readable. Its manifest
lists every file with its size and SHA-256, so a truncated or altered copy
is refused rather than resumed.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import time
from typing import Any

from absl import logging
import jax
import orbax.checkpoint as ocp

from betavae_jax import checkpointing
from betavae_jax import config_diff
from betavae_jax import config_json
from betavae_jax import metric_writer
from betavae_jax import startup
from betavae_jax import workdir_lock

MANIFEST = "state.json"
FORMAT = 1
# Besides the checkpoint: the start config, its change records, the metrics.
RUN_FILES = (config_json.CONFIG_FILE, startup.CHANGES_FILE)
_PARTIAL = ".partial"
_PREVIOUS = ".previous"


class StateError(RuntimeError):
  """A state folder is missing a file, altered, or cannot be written."""


@dataclasses.dataclass(frozen=True)
class State:
  """A verified state folder: where, its step and its checkpoint metadata."""

  path: str
  step: int
  meta: dict  # The checkpoint's run metadata: shapes, members, data.
  config_name: str  # The run's `config.name`.


def workdir_step(workdir: str) -> int | None:
  """The step of the workdir's newest complete checkpoint; None if none."""
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    return None
  with checkpointing.reader(workdir) as manager:
    return manager.latest_step()


def write(workdir: str, target: str) -> State:
  """Replaces the state at `target` with the workdir's newest checkpoint.

  Raises:
    StateError: the workdir has no checkpoint, or the copy does not read
      back; the previous state at `target` is left as it was.
  """
  step = workdir_step(workdir)
  if step is None:
    raise StateError(f"No checkpoint in {workdir} to write a state from.")
  partial = target.rstrip(os.sep) + _PARTIAL
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(partial)
  checkpoint = os.path.join("checkpoints", str(step))
  shutil.copytree(os.path.join(workdir, checkpoint),
                  os.path.join(partial, checkpoint))
  for name in RUN_FILES:
    if os.path.isfile(os.path.join(workdir, name)):
      shutil.copy2(os.path.join(workdir, name), os.path.join(partial, name))
  _copy_metrics(workdir, partial, step)
  meta, config = _read_back(partial, step)
  files = {rel: _digest(os.path.join(partial, rel))
           for rel in _files_under(partial)}
  name = config.get("name", "")
  config_json.write(os.path.join(partial, MANIFEST), {
      "format": FORMAT, "step": step, "config_name": name, "meta": meta,
      "files": files}, indent=1)
  _swap_in(partial, target)
  logging.info("Wrote the state of %s at step %d to %s.", workdir, step,
               target)
  return State(path=target, step=step, meta=meta, config_name=name)


def read(target: str) -> State | None:
  """The verified state at `target`; None where there is none.

  After a write killed between its two renames only `<target>.previous`
  exists: that one is read.

  Raises:
    StateError: the folder exists but a file is missing or altered.
  """
  for path in (target, target.rstrip(os.sep) + _PREVIOUS):
    if os.path.isdir(path):
      return _verified(path)
  return None


def remove(target: str) -> bool:
  """Deletes the state at `target` (a finished run's); whether one was."""
  found = False
  for path in (target, target.rstrip(os.sep) + _PREVIOUS,
               target.rstrip(os.sep) + _PARTIAL):
    if os.path.isdir(path):
      shutil.rmtree(path)
      found = True
  return found


def check_fits(state: State, config_name: str, meta: dict) -> None:
  """Refuses a state of another run: its name, shapes or data differ.

  Raises:
    checkpointing.ShapeMismatchError: another config name, model or
      population.
    checkpointing.DataVersionError: trained on another data version.
  """
  diffs = config_diff.shape_mismatches(state.meta, meta)
  if state.config_name != config_name:
    diffs.insert(0, f"name: state has {state.config_name!r}, config has "
                 f"{config_name!r}")
  if diffs:
    raise checkpointing.ShapeMismatchError(
        f"The state in {state.path} does not fit the config: "
        + "; ".join(diffs) + ".")
  checkpointing.check_data_version(state.step, state.meta, meta,
                                   allow_change=False)


def is_behind(workdir: str, state: State) -> bool:
  """Whether the workdir is missing or its newest checkpoint older than the
  state's (then the state wins; otherwise the workdir does)."""
  step = workdir_step(workdir)
  return step is None or step < state.step


def continue_into(state: State, workdir: str) -> bool:
  """Makes `workdir` the run at the state's step where it is missing or
  behind; a workdir at or past the state is left alone (it wins).

  A workdir that is behind is moved aside whole (`<workdir>.behind_<time>`),
  never deleted. The new workdir is assembled beside it and renamed into
  place, so a kill leaves either the old workdir or the new one.

  Returns:
    Whether the workdir now comes from the state.
  """
  if not is_behind(workdir, state):
    logging.info("%s is at or past the state's step %d: resuming from the "
                 "workdir.", workdir, state.step)
    return False
  step = workdir_step(workdir)
  workdir = workdir.rstrip(os.sep)
  fresh = workdir + ".from_state"
  shutil.rmtree(fresh, ignore_errors=True)
  shutil.copytree(state.path, fresh, ignore=shutil.ignore_patterns(MANIFEST))
  if os.path.isdir(workdir):
    aside = f"{workdir}.behind_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    with workdir_lock.hold(workdir):  # Not while a trainer runs there.
      os.rename(workdir, aside)
    logging.warning("%s was behind the state (step %s < %d); moved it to %s.",
                    workdir, step, state.step, aside)
  else:
    os.makedirs(os.path.dirname(os.path.abspath(workdir)), exist_ok=True)
  os.rename(fresh, workdir)
  logging.info("Continuing %s from the state in %s at step %d.", workdir,
               state.path, state.step)
  return True


def _copy_metrics(workdir: str, target: str, step: int) -> None:
  """The metrics records up to `step`, each line as the run wrote it."""
  source = os.path.join(workdir, metric_writer.METRICS_FILE)
  if os.path.isfile(source):
    copy = os.path.join(target, metric_writer.METRICS_FILE)
    shutil.copy2(source, copy)
    metric_writer.truncate_after(copy, step)


def _read_back(folder: str, step: int) -> tuple[dict, dict]:
  """(meta, config) of the copied checkpoint, after reading every array.

  A copy that Orbax cannot read fails here, before it replaces anything.
  """
  try:
    with checkpointing.reader(folder) as manager:
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(fallback_sharding=(
              jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))),
          meta=ocp.args.JsonRestore(), config=ocp.args.JsonRestore()))
  except Exception as e:  # pylint: disable=broad-except
    raise StateError(f"The copy of checkpoint {step} in {folder} does not "
                     f"read back: {type(e).__name__}: {e}") from e
  return dict(restored.meta), dict(restored.config)


def _files_under(folder: str) -> list[str]:
  """Every file under `folder`, relative and sorted (the manifest's keys)."""
  return sorted(os.path.relpath(os.path.join(root, name), folder)
                for root, _, names in os.walk(folder) for name in names)


def _digest(path: str) -> dict[str, Any]:
  with open(path, "rb") as f:
    data = f.read()
  return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _verified(path: str) -> State:
  """The state in `path`, after checking every file against its manifest."""
  manifest_path = os.path.join(path, MANIFEST)
  try:
    with open(manifest_path) as f:
      manifest = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise StateError(f"{path} has no readable {MANIFEST} ({e}); it is not a "
                     "complete state.") from e
  if manifest.get("format") != FORMAT:
    raise StateError(f"{manifest_path}: format {manifest.get('format')!r}, "
                     f"this version reads {FORMAT}.")
  files = manifest["files"]
  present = set(_files_under(path)) - {MANIFEST}
  for rel in sorted(set(files) | present):
    full = os.path.join(path, rel)
    if rel not in files:
      raise StateError(f"{full} is not in the state's manifest.")
    if rel not in present or _digest(full) != files[rel]:
      raise StateError(f"{full} is missing or differs from the state's "
                       "manifest; the state is damaged.")
  return State(path=path, step=int(manifest["step"]), meta=manifest["meta"],
               config_name=manifest["config_name"])


def _swap_in(partial: str, target: str) -> None:
  """`partial` becomes `target`; the old one stays until the new is there."""
  previous = target.rstrip(os.sep) + _PREVIOUS
  if os.path.isdir(target):
    # A `.previous` beside a whole target is a finished swap's leftover.
    shutil.rmtree(previous, ignore_errors=True)
    os.rename(target, previous)
  os.rename(partial, target)
  shutil.rmtree(previous, ignore_errors=True)
