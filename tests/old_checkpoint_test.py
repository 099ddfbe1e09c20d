"""A run saved by an older version of the code still loads and resumes.

tests/data/old_checkpoint holds step 10 of a 20-step run of configs/test.py
(its config.json, metrics.jsonl and checkpoint) and, in expected.json, what
the code that wrote it read and computed: a digest of the parameters at
step 10, and the metrics and parameters of the uninterrupted run at steps
15 and 20. tests/data/README.md says how it was made;
`python tests/old_checkpoint_test.py` makes it again.
"""

import hashlib
import json
import pathlib
import shutil
import sys
import tempfile
from typing import Any

import jax
import numpy as np
import pytest

from betavae_jax import config_json
from betavae_jax import metric_writer
from betavae_jax import train
from betavae_jax import trained_run
import conftest

FIXTURE = pathlib.Path(__file__).resolve().parent / "data" / "old_checkpoint"
EXPECTED = "expected.json"
CONFIG = "config.json"  # Named so in every run, old ones included.
STEP = 10  # The kept checkpoint; the run goes on to the config's 20.
# Compared to float32 rounding only: XLA's CPU code, and so the last bits of
# a computed value, differ between host instruction sets.
RTOL = 1e-5


def _digest(tree: Any) -> str:
  """SHA-256 of every leaf's path, dtype, shape and bytes, in tree order."""
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    leaf = np.asarray(leaf)
    h.update(f"{jax.tree_util.keystr(path)}:{leaf.dtype}:{leaf.shape}".encode())
    h.update(leaf.tobytes())
  return h.hexdigest()


def _abs_sum(tree: Any) -> float:
  """A summary of parameters that tolerates last-bit differences."""
  return float(sum(np.abs(np.asarray(x, np.float64)).sum()
                   for x in jax.tree.leaves(tree)))


def _resume_config(workdir: pathlib.Path):
  """The test config of the day with every field the old run saved.

  Fields added since keep their defaults (a resume logs them as new);
  fields since removed are dropped, as the config file of the day has
  none of them.
  """
  config = conftest.load_config("test")
  _update_known(config, config_json.read(workdir / CONFIG))
  return config


def _update_known(config, saved) -> None:
  """Sets the fields of `saved` that `config` has, section by section."""
  for name, value in saved.items():
    if name not in config:
      continue
    if hasattr(value, "items") and hasattr(config[name], "items"):
      _update_known(config[name], value)
    else:
      config[name] = value


def _records(workdir: pathlib.Path) -> dict[int, dict]:
  return {r["step"]: r for r in metric_writer.read_metrics(str(workdir))}


def test_old_run_loads_with_its_parameters(tmp_path):
  expected = json.loads((FIXTURE / EXPECTED).read_text())
  workdir = tmp_path / "run"
  shutil.copytree(FIXTURE, workdir)
  run = trained_run.load(str(workdir))
  assert run.step == STEP
  assert _digest(run.params) == expected["params_digest"][str(STEP)]
  assert run.config.model.latent_dim == expected["latent_dim"]


@pytest.mark.slow  # Trains ten steps and evaluates.
def test_old_run_resumes_as_the_uninterrupted_run(tmp_path):
  expected = json.loads((FIXTURE / EXPECTED).read_text())
  workdir = tmp_path / "run"
  shutil.copytree(FIXTURE, workdir, ignore=shutil.ignore_patterns(EXPECTED))
  old_records = (workdir / metric_writer.METRICS_FILE).read_text()
  state = train.train_and_evaluate(_resume_config(workdir), str(workdir))
  assert int(state.step[0]) == 20
  records = _records(workdir)
  assert sorted(records) == [5, 10, 15, 20]
  # The old records are kept as written; the resumed ones follow them.
  assert (workdir / metric_writer.METRICS_FILE).read_text().startswith(
      old_records)
  for step, metrics in expected["metrics"].items():
    for name, value in metrics.items():
      np.testing.assert_allclose(records[int(step)][name], value, rtol=RTOL,
                                 err_msg=f"{name} at step {step}")
  np.testing.assert_allclose(_abs_sum(state.params),
                             expected["params_abs_sum"]["20"], rtol=RTOL)
  assert trained_run.load(str(workdir)).step == 20


def make_fixture(target: pathlib.Path = FIXTURE) -> None:
  """Trains configs/test.py for 20 steps and keeps step 10 and the answers."""
  with tempfile.TemporaryDirectory() as tmp:
    workdir = pathlib.Path(tmp) / "run"
    state = train.train_and_evaluate(conftest.load_config("test"),
                                     str(workdir))
    records = _records(workdir)
    names = ("train/loss", "train/recon", "train/kl", "eval/elbo")
    expected = {
        "latent_dim": conftest.load_config("test").model.latent_dim,
        "params_digest": {str(STEP): _digest(
            trained_run.load(str(workdir), step=STEP).params)},
        "params_abs_sum": {"20": _abs_sum(state.params)},
        "metrics": {str(s): {n: records[s][n] for n in names
                             if n in records[s]} for s in (15, 20)},
    }
    if target.exists():
      shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(workdir / CONFIG, target)
    with open(target / metric_writer.METRICS_FILE, "w") as f:
      f.writelines(json.dumps(r) + "\n" for s, r in sorted(records.items())
                   if s <= STEP)
    shutil.copytree(workdir / "checkpoints" / str(STEP),
                    target / "checkpoints" / str(STEP))
    (target / EXPECTED).write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
  make_fixture(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)
