"""Orbax checkpoints of a run: the train state, the config and run metadata.

A thin layer over `ocp.CheckpointManager`. It saves asynchronously, restores
the newest *readable* checkpoint (falling back past a corrupt one with a
warning), and refuses to resume a run whose shapes or data differ from the
saved one. Trainer and readers (evaluate, visualize, init_from) share the
fallback; readers open the directory without creating anything in it. It
never decides when to save: the train loop does.
"""

from collections.abc import Callable, Iterator, Mapping
import contextlib
import dataclasses
import functools
import os
import time
from typing import Any

from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from betavae_jax import config_diff


ITEMS = ("state", "config", "meta")
SET_ASIDE_PREFIX = "before_fresh_"


class CheckpointError(RuntimeError):
  """No usable checkpoint where one was expected."""


class DataVersionError(CheckpointError):
  """The checkpoint was trained on another version of the data."""


@dataclasses.dataclass(frozen=True)
class Restored:
  """A checkpoint read back: its step, state, segment config and metadata."""

  step: int
  state: Any
  config: dict | None  # None for a checkpoint saved without one.
  meta: dict


def set_aside_run(workdir: str, keep: tuple[str, ...] = ()) -> str | None:
  """Moves a workdir's whole run into one dated folder before a fresh start.

  Checkpoints, metrics.jsonl, TensorBoard events, config.json, plots and
  evaluations stay together, so the old run can still be read; earlier
  set-aside folders and the names in `keep` (the lock) stay where they are.
  Returns the folder, or None when there was nothing to move.
  """
  names = [n for n in sorted(os.listdir(workdir))
           if n not in keep and not n.startswith(SET_ASIDE_PREFIX)]
  if not names:
    return None
  stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
  target = os.path.join(workdir, SET_ASIDE_PREFIX + stamp)
  suffix = 0
  while os.path.exists(target):  # Two fresh starts within a second.
    suffix += 1
    target = os.path.join(workdir, f"{SET_ASIDE_PREFIX}{stamp}_{suffix}")
  os.mkdir(target)
  for name in names:
    os.rename(os.path.join(workdir, name), os.path.join(target, name))
  logging.warning("start_fresh: moved the previous run (%s) to %s.",
                  ", ".join(names), target)
  return target


def create_manager(workdir: str, max_to_keep: int,
                   keep_period: int = 0) -> ocp.CheckpointManager:
  """An async manager in `<workdir>/checkpoints` keeping `max_to_keep`.

  Checkpoints at multiples of `keep_period` (0: none) are kept besides, so a
  long run can be scored afterwards at chosen steps while saving often.
  Every `save` call is honoured: the train loop owns the save schedule.
  """
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, keep_period=keep_period or None, create=True,
      enable_async_checkpointing=True)
  return ocp.CheckpointManager(
      _directory(workdir), options=options, item_names=ITEMS)


def _directory(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


@contextlib.contextmanager
def reader(workdir: str) -> Iterator[ocp.CheckpointManager]:
  """A manager that reads a workdir's checkpoints and creates nothing."""
  with ocp.CheckpointManager(
      _directory(workdir), options=ocp.CheckpointManagerOptions(create=False),
      item_names=ITEMS) as manager:
    yield manager


def save(manager: ocp.CheckpointManager, step: int, state: Any,
         config: Mapping, meta: Mapping) -> bool:
  """Starts an async save of the state with the config and metadata JSON.

  Orbax first waits for the previous save, so its failure surfaces here.

  Raises:
    CheckpointError: this or the previous save failed; names the cause and
      the newest complete checkpoint.
  """
  try:
    return manager.save(
        step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            config=ocp.args.JsonSave(dict(config)),
            meta=ocp.args.JsonSave(dict(meta))), force=True)
  except Exception as e:  # pylint: disable=broad-except
    raise save_failure(manager, e) from e


def wait(manager: ocp.CheckpointManager) -> None:
  """Waits for the in-flight save; a failed one is a CheckpointError."""
  try:
    manager.wait_until_finished()
  except Exception as e:  # pylint: disable=broad-except
    raise save_failure(manager, e) from e


def save_failure(manager: ocp.CheckpointManager,
                 error: Exception) -> CheckpointError:
  """One line: why saving failed and which checkpoint is the newest whole."""
  with contextlib.suppress(Exception):  # An earlier save may still write.
    manager.wait_until_finished()
  directory = os.path.dirname(os.fspath(manager.directory))
  with reader(directory) as fresh:  # Lists finished saves only.
    steps = fresh.all_steps()
  newest = f"step {max(steps)}" if steps else "none"
  cause = str(error).splitlines()[0] if str(error) else ""
  return CheckpointError(
      f"Saving a checkpoint failed ({type(error).__name__}: {cause}); the "
      f"newest complete checkpoint in {manager.directory} is {newest}.")


class ShapeMismatchError(CheckpointError):
  """The config changes shapes that the checkpoint was written with."""


def _restore_step(manager: ocp.CheckpointManager, step: int,
                  abstract_state: Any, meta: Mapping,
                  allow_data_change: bool) -> Restored:
  """Reads the metadata, checks it against `meta`, then the state."""
  saved = manager.restore(step, args=ocp.args.Composite(
      meta=ocp.args.JsonRestore())).meta
  diffs = config_diff.shape_mismatches(saved, meta)
  if diffs:
    raise ShapeMismatchError(
        "The config does not match the checkpoint in this workdir: "
        + "; ".join(diffs) + ". Use a new workdir (or "
        "--config.init_from=<workdir> to start from its weights).")
  check_data_version(step, saved, meta, allow_data_change)
  state = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state))).state
  return Restored(step=step, state=state, meta=dict(saved),
                  config=_saved_config(manager, step))


def _saved_config(manager: ocp.CheckpointManager, step: int) -> dict | None:
  """The config saved with a checkpoint, if it has one."""
  if not (epath.Path(manager.directory) / str(step) / "config").exists():
    return None
  return dict(manager.restore(step, args=ocp.args.Composite(
      config=ocp.args.JsonRestore())).config)


def check_data_version(step: int, saved: Mapping, meta: Mapping,
                       allow_change: bool) -> None:
  """Stops (or with `allow_change` warns) when the data version changed.

  Checkpoints written before versions were recorded resume with a warning.
  """
  old = saved.get("data", {}).get("version")
  new = meta.get("data", {}).get("version")
  if old is None:
    logging.warning("The checkpoint at step %d records no data version; "
                    "resuming on %r without checking it.", step, new)
    return
  if old == new:
    return
  message = (f"the checkpoint at step {step} was trained on data version "
             f"{old!r}, this config loads {new!r}")
  if allow_change:
    logging.warning("data.allow_version_change: %s; resuming anyway.",
                    message)
    return
  raise DataVersionError(
      f"{message[0].upper()}{message[1:]}. Pin the old prepared data with "
      f"--config.data.version={old.rsplit('/', 1)[-1]}, or pass "
      "--config.data.allow_version_change=True to resume on the new data.")


def _first_line(error: Exception) -> str:
  """TensorStore errors run to many lines; the first names the cause."""
  text = str(error).strip()
  return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _newest_readable(manager: ocp.CheckpointManager,
                     read: Callable[[int], Any]) -> tuple[int, Any] | None:
  """(step, read(step)) of the newest checkpoint `read` can read.

  An unreadable checkpoint (killed mid-write, truncated, a file deleted) is
  skipped with a warning naming it and the one used instead; if every saved
  checkpoint is unreadable this raises rather than silently starting over.
  A CheckpointError from `read` (a config that does not fit) is no
  unreadable checkpoint: it stops at once. None when there is no checkpoint.
  """
  failures = []
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      value = read(step)
    except CheckpointError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      failures.append((step, e))
      logging.warning("Checkpoint at step %d in %s is unreadable (%s).",
                      step, manager.directory, _first_line(e))
      continue
    if failures:
      logging.warning("Resuming from step %d instead of unreadable step(s) "
                      "%s.", step, [s for s, _ in failures])
    return step, value
  if failures:
    raise CheckpointError(
        f"No readable checkpoint in {manager.directory}: tried steps "
        f"{[s for s, _ in failures]}; last error: "
        f"{_first_line(failures[-1][1])}. Pass "
        "--config.train.start_fresh=True to start over in this workdir.")
  return None


def restore_latest(workdir: str, abstract_state: Any, meta: Mapping,
                   allow_data_change: bool = False) -> Restored | None:
  """The newest readable checkpoint of `workdir`; None if there is none.

  Falls back past unreadable checkpoints (`_newest_readable`) and moves
  them aside. A checkpoint whose shape-defining fields differ from `meta`
  stops the run with the differing fields named; one trained on another
  data version stops it unless `allow_data_change`.
  """
  with reader(workdir) as manager:
    found = _newest_readable(manager, lambda step: _restore_step(
        manager, step, abstract_state, meta, allow_data_change))
    if found is None:
      return None
    unreadable = [s for s in manager.all_steps() if s > found[0]]
    if unreadable:
      _set_aside(manager, unreadable)
  return found[1]


def _set_aside(manager: ocp.CheckpointManager, steps: list[int]) -> None:
  """Moves unreadable checkpoints out of the way, keeping them for a look.

  The resumed run will save those steps again; Orbax refuses to overwrite.
  """
  directory = epath.Path(manager.directory)
  aside = directory.parent / "checkpoints_unreadable"
  aside.mkdir(exist_ok=True)
  for step in steps:
    target = aside / f"{step}_{int(time.time())}"
    (directory / str(step)).rename(target)
    logging.warning("Moved unreadable checkpoint %d to %s.", step, target)
  manager.reload()


def _read_params(manager: ocp.CheckpointManager, step: int) -> Any:
  """A checkpoint's parameters, restored without a target."""
  return manager.restore(step, args=ocp.args.Composite(
      # Arrays saved on another device topology land on one local device.
      state=ocp.args.StandardRestore(fallback_sharding=(
          jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))))
  ).state["params"]


def restore_params(workdir: str, like: Any,
                   step: int | None = None) -> tuple[int, Any]:
  """(step, parameters) of a run's checkpoint (default: the newest readable).

  Used for `init_from` and by the evaluation and plotting tools; creates
  nothing in `workdir`. Restored without a target, then checked leaf by
  leaf against `like` (parameters of the same structure) so that a shape
  mismatch names the parameter.

  Raises:
    CheckpointError: no workdir, no (readable) checkpoint, or the named
      `step` is missing or unreadable.
  """
  if not os.path.isdir(workdir):
    raise CheckpointError(f"No run directory {workdir!r}.")
  with reader(workdir) as manager:
    steps = list(manager.all_steps())
    if step is None:
      found = _newest_readable(manager, functools.partial(_read_params,
                                                          manager))
      if found is None:
        raise CheckpointError(f"No checkpoint in {workdir}.")
      step, raw = found
    elif step not in steps:
      raise CheckpointError(f"No checkpoint {step} in {workdir}; found steps "
                            f"{steps}.")
    else:
      try:
        raw = _read_params(manager, step)
      except Exception as e:  # pylint: disable=broad-except
        raise CheckpointError(
            f"Checkpoint {step} in {workdir} is unreadable ({_first_line(e)})"
            f"; readable ones may be among steps {steps}.") from e
  flat_like = dict(jax.tree_util.tree_leaves_with_path(like))
  flat_raw = dict(jax.tree_util.tree_leaves_with_path(raw))
  for path, leaf in flat_like.items():
    found = flat_raw.get(path)
    if found is None or found.shape != leaf.shape:
      raise CheckpointError(
          f"{workdir}: parameter {jax.tree_util.keystr(path)} "
          f"expected shape {leaf.shape}, found "
          f"{None if found is None else found.shape}.")
  return step, jax.tree_util.tree_unflatten(
      jax.tree_util.tree_structure(like),
      [jnp.asarray(flat_raw[p], leaf.dtype) for p, leaf in flat_like.items()])
