"""Configs written as JSON (config.json, shipped models), read back.

JSON stores tuples as lists; the modules and `shape_mismatches` expect the
tuples the config files wrote, so lists become tuples on the way in.
"""

import json
import os
from typing import Any

import ml_collections


def read(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """The ConfigDict a `config.to_dict()` JSON file was written from."""
  with open(path) as f:
    return ml_collections.ConfigDict(_tuples(json.load(f)))


def _tuples(value: Any) -> Any:
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value
