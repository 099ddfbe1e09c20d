r"""A record of tiny trainings, bit for bit, to compare code before and after.

  python -m benchmarks.training_digest --output=before.json
  python -m benchmarks.training_digest --output=after.json \
      --compare=before.json

Trains `configs/test.py` variants for 20 steps each (one model, a 2 x 2
population, the capacity and tcvae objectives, the MLP with an annealed
beta) and records the SHA-256 of every leaf of each final train state
(parameters and optimiser state) and every logged value but the timings.
With --compare it names each variant whose record differs from the file's
and exits 1, so a refactor that promises bitwise-unchanged training is
checked by one command.
"""

import hashlib
import importlib.util
import json
import os
import sys
import tempfile

from absl import app
from absl import flags
import jax
import ml_collections
import numpy as np

from betavae_jax import config_json
from betavae_jax import metric_writer
from betavae_jax import process
from betavae_jax import train

_OUTPUT = flags.DEFINE_string("output", "training_digest.json", "JSON path.")
_COMPARE = flags.DEFINE_string("compare", None,
                               "An earlier record to compare with.")
_VARIANTS = flags.DEFINE_list("variants", None, "A subset of the variants.")

TIMING = ("train/steps_per_sec", "train/images_per_sec", "train/eta_min")
CONFIG = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "configs", "test.py")


def _test_config() -> ml_collections.ConfigDict:
  spec = importlib.util.spec_from_file_location("test_config", CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def variants() -> dict[str, ml_collections.ConfigDict]:
  """The recorded trainings, by name."""
  out = {"beta": _test_config()}
  out["population"] = _test_config()
  out["population"].population.betas = (1.0, 4.0)
  out["population"].population.seeds = (0, 1)
  out["capacity"] = _test_config()
  out["capacity"].objective.name = "capacity"
  out["capacity"].objective.capacity.schedule.transition_steps = 20
  out["tcvae"] = _test_config()
  out["tcvae"].objective.name = "tcvae"
  out["mlp_anneal"] = _test_config()
  out["mlp_anneal"].model.name = "mlp"
  out["mlp_anneal"].objective.beta_schedule.name = "linear"
  out["mlp_anneal"].objective.beta_schedule.transition_steps = 10
  return out


def record(config: ml_collections.ConfigDict) -> dict:
  """The digest of a training's final state and its logged values."""
  with tempfile.TemporaryDirectory() as workdir:
    state = train.train_and_evaluate(config, workdir)
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(jax.device_get(state)):
      digest.update(np.asarray(leaf).tobytes())
    metrics = [{k: v for k, v in r.items() if k not in TIMING}
               for r in metric_writer.read_metrics(workdir)]
  return {"state_sha256": digest.hexdigest(), "metrics": metrics}


def differing(new: dict, old: dict) -> list[str]:
  """The variants recorded in both whose records differ."""
  return [name for name in new if name in old and new[name] != old[name]]


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  chosen = {name: config for name, config in variants().items()
            if not _VARIANTS.value or name in _VARIANTS.value}
  records = {name: record(config) for name, config in chosen.items()}
  config_json.write(_OUTPUT.value, records)
  for name, r in records.items():
    print(f"{name}: state {r['state_sha256'][:16]}, "
          f"{sum(len(m) for m in r['metrics'])} logged values")
  if _COMPARE.value:
    with open(_COMPARE.value) as f:
      old = json.load(f)
    changed = differing(records, old)
    compared = [name for name in records if name in old]
    print(f"compared {len(compared)} variant(s) with {_COMPARE.value}: "
          + (f"differ: {', '.join(changed)}" if changed else "all equal"))
    if changed:
      sys.exit(1)


if __name__ == "__main__":
  app.run(main)
