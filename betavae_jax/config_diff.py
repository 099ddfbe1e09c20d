"""Which fields differ between two configs (or a config and a checkpoint).

A resume compares the config it is given with the one the checkpoint was
saved under twice: the shape-defining fields decide whether the checkpoint
fits at all (`shape_mismatches`), and every other difference is recorded
(`config_changes`). Both compare nested dicts field by field, with JSON's
lists and the config's tuples alike.
"""

from collections.abc import Mapping
from typing import Any

# Fields whose change alters parameter shapes or the population, so a
# checkpoint written under one value cannot be resumed under another.
SHAPE_FIELDS = ("model", "population", "image_shape", "optim.name")
# Model fields that leave the parameters' shapes alone: the convolution
# code and the initialiser (which a restored state no longer depends on).
NOT_SHAPE_FIELDS = ("model.conv_impl", "model.kernel_init")
# The old value of a field the saved config did not have yet.
ABSENT = "<absent>"


def shape_mismatches(saved: Mapping, current: Mapping) -> list[str]:
  """Names the shape-defining fields whose values differ between runs."""
  saved, current = _flatten(saved), _flatten(current)
  diffs = []
  for key in sorted(set(saved) | set(current)):
    if not key.startswith(SHAPE_FIELDS) or key in NOT_SHAPE_FIELDS:
      continue
    a, b = saved.get(key), current.get(key)
    if _normalise(a) != _normalise(b):
      diffs.append(f"{key}: checkpoint has {a!r}, config has {b!r}")
  return diffs


def config_changes(saved: Mapping, current: Mapping) -> list[
    tuple[str, Any, Any]]:
  """(field, old, new) for every config field whose value differs; old is
  ABSENT for a field added to the code since the checkpoint."""
  saved, current = _flatten(saved), _flatten(current)
  return [(key, saved.get(key, ABSENT), current.get(key, ABSENT))
          for key in sorted(set(saved) | set(current))
          if _normalise(saved.get(key, ABSENT))
          != _normalise(current.get(key, ABSENT))]


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in tree.items():
    if isinstance(v, Mapping):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _normalise(value: Any) -> Any:
  """JSON turns tuples into lists; compare them alike."""
  if isinstance(value, (list, tuple)):
    return [_normalise(v) for v in value]
  return value
