"""Importing a config is cheap: ml_collections and the schedules only.

The config files are loaded in a fresh process, as `main` loads them, and
the modules they pulled in are checked: a config that reached the data layer,
the metrics or the plots would make every `--config` parse pay for them.
"""

import json
import pathlib
import subprocess
import sys

import pytest

from betavae_jax import base_config
from betavae_jax import evaluation
from betavae_jax import input_pipeline
from betavae_jax import metric_names

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = sorted(ROOT.glob("configs/*.py")) + sorted(
    ROOT.glob("experiments/*/config.py"))
HEAVY = ("tensorflow_datasets", "tensorflow", "sklearn", "scipy",
         "matplotlib", "PIL", "flax", "orbax", "lightgbm", "array_record")
ALLOWED = {"betavae_jax", "betavae_jax.base_config", "betavae_jax.schedules",
           "betavae_jax.metric_names"}

_PROBE = """
import importlib.util, json, sys
for path in sys.argv[1:]:
  spec = importlib.util.spec_from_file_location("config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  module.get_config()
after_configs = sorted(sys.modules)
from betavae_jax import config_validation
print(json.dumps([after_configs, sorted(sys.modules)]))
"""


@pytest.fixture(scope="module")
def loaded() -> tuple[set[str], set[str]]:
  """Modules loaded by every config file, then by config_validation too.

  One fresh interpreter loads them all: what the configs pull in together
  bounds what each pulls in alone.
  """
  proc = subprocess.run(
      [sys.executable, "-c", _PROBE, *map(str, CONFIGS)], cwd=ROOT,
      capture_output=True, text=True, timeout=120, check=True)
  after_configs, after_validation = json.loads(proc.stdout.splitlines()[-1])
  return set(after_configs), set(after_validation)


def _packages(modules: set[str]) -> set[str]:
  return {m.split(".")[0] for m in modules}


def test_configs_import_only_ml_collections_and_schedules(loaded):
  modules, _ = loaded
  ours = {m for m in modules if m.split(".")[0] == "betavae_jax"}
  assert ours <= ALLOWED, sorted(ours - ALLOWED)
  assert not _packages(modules) & set(HEAVY)


def test_config_validation_needs_no_metrics_or_data(loaded):
  _, modules = loaded
  assert "betavae_jax.evaluation" not in modules
  assert "betavae_jax.input_pipeline" not in modules
  assert not _packages(modules) & {
      "sklearn", "scipy", "tensorflow_datasets", "matplotlib"}


def test_metric_names_are_the_suites():
  assert metric_names.METRICS == evaluation.METRICS


def test_data_defaults_match_the_pipeline():
  data = base_config.base_config().data
  assert input_pipeline.default_data_config().to_dict() == data.to_dict()
  # Configs saved before the field existed fall back to the same limit.
  assert data.in_memory_max_mib == input_pipeline.IN_MEMORY_MAX_MIB
  assert data.url.endswith("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
