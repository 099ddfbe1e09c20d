"""Importing a config is cheap: ml_collections and the schedules only.

Each config file is loaded in a fresh process, as `main` loads it, and the
modules it pulled in are checked: a config that reached the data layer,
the metrics or the plots would make every `--config` parse pay for them.
"""

import json
import pathlib
import subprocess
import sys

import pytest

from betavae_jax import base_config
from betavae_jax import input_pipeline
from betavae_jax import metric_names
from betavae_jax import evaluation

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = sorted(ROOT.glob("configs/*.py")) + [
    ROOT / "experiments/reproduction/config.py"]
HEAVY = ("tensorflow_datasets", "tensorflow", "sklearn", "scipy",
         "matplotlib", "PIL", "flax", "orbax", "lightgbm", "array_record")
ALLOWED = {"betavae_jax", "betavae_jax.base_config", "betavae_jax.schedules",
           "betavae_jax.metric_names"}

_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("config", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.get_config()
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str, *args: str) -> set[str]:
  """The modules loaded by running `code` in a fresh interpreter."""
  proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120,
                        check=True)
  return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_imports_only_ml_collections_and_schedules(path):
  loaded = _modules_after(_PROBE, str(path))
  ours = {m for m in loaded if m.split(".")[0] == "betavae_jax"}
  assert ours <= ALLOWED, sorted(ours - ALLOWED)
  assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_config_validation_needs_no_metrics_or_data():
  loaded = _modules_after("import json, sys\n"
                          "from betavae_jax import config_validation\n"
                          "print(json.dumps(sorted(sys.modules)))")
  assert "betavae_jax.evaluation" not in loaded
  assert "betavae_jax.input_pipeline" not in loaded
  assert not {m.split(".")[0] for m in loaded} & {
      "sklearn", "scipy", "tensorflow_datasets", "matplotlib"}


def test_metric_names_are_the_suites():
  assert metric_names.METRICS == evaluation.METRICS


def test_data_defaults_match_the_pipeline():
  data = base_config.base_config().data
  assert input_pipeline.default_data_config().to_dict() == data.to_dict()
  # Configs saved before the field existed fall back to the same limit.
  assert data.in_memory_max_mib == input_pipeline.IN_MEMORY_MAX_MIB
  assert data.url.endswith("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
