"""Orbax checkpoints of a run: the train state, the config and run metadata.

A thin layer over `ocp.CheckpointManager`. It saves asynchronously, restores
the newest *readable* checkpoint (falling back past a corrupt one with a
warning), and refuses to resume a run whose shapes differ from the saved one.
It never decides when to save: the train loop does.
"""

from collections.abc import Mapping
import os
import time
from typing import Any

from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

# Fields whose change alters parameter shapes or the population, so a
# checkpoint written under one value cannot be resumed under another.
SHAPE_FIELDS = ("model", "population", "image_shape", "optim.name")


class CheckpointError(RuntimeError):
  """No usable checkpoint where one was expected."""


def set_aside_all(workdir: str) -> None:
  """Keeps a workdir's checkpoints under a new name before a fresh start."""
  directory = epath.Path(workdir) / "checkpoints"
  if directory.exists():
    target = directory.parent / f"checkpoints_before_fresh_{int(time.time())}"
    directory.rename(target)
    logging.warning("start_fresh: moved existing checkpoints to %s.", target)


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
      os.path.join(os.path.abspath(workdir), "checkpoints"), options=options,
      item_names=("state", "config", "meta"))


def save(manager: ocp.CheckpointManager, step: int, state: Any,
         config: Mapping, meta: Mapping) -> bool:
  """Starts an async save of the state with the config and metadata JSON."""
  return manager.save(
      step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state),
          config=ocp.args.JsonSave(dict(config)),
          meta=ocp.args.JsonSave(dict(meta))), force=True)


class ShapeMismatchError(CheckpointError):
  """The config changes shapes that the checkpoint was written with."""


def _restore_step(manager: ocp.CheckpointManager, step: int,
                  abstract_state: Any, meta: Mapping) -> Any:
  """Reads the metadata, checks it against `meta`, then the state."""
  saved = manager.restore(step, args=ocp.args.Composite(
      meta=ocp.args.JsonRestore())).meta
  diffs = shape_mismatches(saved, meta)
  if diffs:
    raise ShapeMismatchError(
        "The config does not match the checkpoint in this workdir: "
        + "; ".join(diffs) + ". Use a new workdir (or "
        "--config.init_from=<workdir> to start from its weights).")
  return manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state))).state


def restore_latest(manager: ocp.CheckpointManager, abstract_state: Any,
                   meta: Mapping) -> Any | None:
  """The newest readable checkpoint's state; None if there is none.

  An unreadable checkpoint (killed mid-write, truncated, a file deleted) is
  skipped with a warning naming it and the one used instead; if every saved
  checkpoint is unreadable the run stops rather than silently starting over.
  A checkpoint whose shape-defining fields differ from `meta` stops the run
  with the differing fields named.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  failures = []
  for step in steps:
    try:
      state = _restore_step(manager, step, abstract_state, meta)
    except ShapeMismatchError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      failures.append((step, e))
      logging.warning("Checkpoint at step %d in %s is unreadable (%s: %s).",
                      step, manager.directory, type(e).__name__, e)
      continue
    if failures:
      logging.warning("Resuming from step %d instead of unreadable step(s) "
                      "%s.", step, [s for s, _ in failures])
      _set_aside(manager, [s for s, _ in failures])
    return state
  if failures:
    raise CheckpointError(
        f"No readable checkpoint in {manager.directory}: tried steps "
        f"{[s for s, _ in failures]}; last error: {failures[-1][1]}. Pass "
        "--config.train.start_fresh=True to start over in this workdir.")
  return None


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


def restore_params(workdir: str, like: Any,
                   step: int | None = None) -> tuple[int, Any]:
  """(step, parameters) of a run's checkpoint (default: the newest).

  Used for `init_from` and by the evaluation and plotting tools. Restored
  without a target, then checked leaf by leaf against `like` (parameters of
  the same structure) so that a shape mismatch names the parameter.
  """
  with ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      item_names=("state", "config", "meta")) as manager:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise CheckpointError(f"No checkpoint {step or ''} in {workdir}; found "
                            f"steps {list(manager.all_steps())}.")
    raw = manager.restore(step, args=ocp.args.Composite(
        # Arrays saved on another device topology land on one local device.
        state=ocp.args.StandardRestore(fallback_sharding=(
            jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))))
    ).state["params"]
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


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in tree.items():
    if isinstance(v, Mapping):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def shape_mismatches(saved: Mapping, current: Mapping) -> list[str]:
  """Names the shape-defining fields whose values differ between runs."""
  saved, current = _flatten(saved), _flatten(current)
  diffs = []
  for key in sorted(set(saved) | set(current)):
    if not key.startswith(SHAPE_FIELDS):
      continue
    a, b = saved.get(key), current.get(key)
    if _normalise(a) != _normalise(b):
      diffs.append(f"{key}: checkpoint has {a!r}, config has {b!r}")
  return diffs


def _normalise(value: Any) -> Any:
  """JSON turns tuples into lists; compare them alike."""
  if isinstance(value, (list, tuple)):
    return [_normalise(v) for v in value]
  return value
