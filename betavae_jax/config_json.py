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


# Fields renamed since runs were first saved: (section, old, new path).
# Runs from before the objective's per-objective sections kept every knob
# flat in `objective`, and the population's C_max list was `capacity_max`.
RENAMED = (("objective", "gamma", ("capacity", "gamma")),
           ("objective", "capacity_max", ("capacity", "max")),
           ("objective", "capacity_schedule", ("capacity", "schedule")),
           ("objective", "tcvae_alpha", ("tcvae", "alpha")),
           ("objective", "tcvae_gamma", ("tcvae", "gamma")),
           ("objective", "tcvae_estimator", ("tcvae", "estimator")),
           ("population", "capacity_max", ("capacity_maxes",)))


def read(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """The ConfigDict a `config.to_dict()` JSON file was written from, with
  the fields of older runs under their current names (`upgrade`)."""
  with open(path) as f:
    return ml_collections.ConfigDict(_tuples(upgrade(json.load(f))))


def upgrade(config: dict) -> dict:
  """A config dict with every field of `RENAMED` moved to its new name.

  Older runs' configs then load, compare and resume under today's names.
  """
  config = json.loads(json.dumps(config))  # A deep copy of plain JSON.
  for section, old, new in RENAMED:
    fields = config.get(section)
    if not isinstance(fields, dict) or old not in fields:
      continue
    value, target = fields.pop(old), fields
    for name in new[:-1]:
      target = target.setdefault(name, {})
    target[new[-1]] = value
  return config


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
