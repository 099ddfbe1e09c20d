"""The JSON files of runs and studies: configs read back, whole writes.

JSON stores tuples as lists; the modules and `shape_mismatches` expect the
tuples the config files wrote, so lists become tuples on the way in. Files
are written whole or not at all, so a reader (or a resumed run) never sees
half of one after a kill.
"""

import json
import os
from typing import Any

import ml_collections

CONFIG_FILE = "config.json"  # A run's config, in its workdir or model folder.


def read(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """The ConfigDict a `config.to_dict()` JSON file was written from."""
  with open(path) as f:
    return ml_collections.ConfigDict(_tuples(json.load(f)))


def write(path: str | os.PathLike, value: Any, indent: int = 1) -> None:
  """Writes `value` as JSON through a temporary file and a rename."""
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=indent, default=str)
  os.replace(tmp, path)


def _tuples(value: Any) -> Any:
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value
