r"""Trains, scores and reports the beta-sweep study in one resumable command.

  python experiments/beta_sweep/run.py --config=configs/beta_sweep.py:cpu \
      [--workdir=runs/beta_sweep_cpu] [--out=experiments/beta_sweep]

Each run of the study (configs/beta_sweep.py) trains with
`train.train_and_evaluate` in `<workdir>/<run>` (a population is one
vmapped program), is scored with `evaluation.suite.evaluate_run` at the study's
metric scale, and `report.write_report` then writes README.md and plots/
into --out. Interrupt it at any point and run the same command again: the
training resumes from checkpoints and finished scores are not recomputed.
"""

import json
import os
import platform
import sys
import time

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import numpy as np

from betavae_jax import config_json
from betavae_jax import input_pipeline
from betavae_jax import iwae
from betavae_jax import process
from betavae_jax import steps
from betavae_jax import train
from betavae_jax import trained_run
from betavae_jax.evaluation import suite

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Study config (configs/beta_sweep.py:<preset>).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where the runs go; default runs/beta_sweep_<preset>.")
_OUT = flags.DEFINE_string(
    "out", None, "Where README.md and plots/ go; default <workdir>/report.")
_RUNS = flags.DEFINE_list("runs", None, "A subset of the study's runs.")

TIMING_FILE = "timing.json"


def train_run(config, workdir: str) -> bool:
  """Trains (or resumes) one run, adding its wall time to timing.json.

  Returns:
    Whether the run reached its last step (False after SIGTERM / SIGINT,
    which save a checkpoint and return early, or stop start-up before
    anything is written).
  """
  start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  finished = train.train_or_resume(config, workdir)
  timing = read_timing(workdir)
  timing["train_seconds"] = timing.get("train_seconds", 0.0) + (
      time.perf_counter() - start)
  config_json.write(os.path.join(workdir, TIMING_FILE), timing)
  return finished


def score_run(workdir: str, step: int, metrics, scale: float,
              points: tuple[int, int], seed: int, elbo_examples: int,
              mechanism: dict | None = None) -> dict:
  """The run's eval/metrics_<step>.json, computed once per settings.

  Holds the metric suite (with the IWAE bound on held-out images, and UDR)
  per member, plus 'elbo': the ELBO terms of the final parameters on
  `elbo_examples` held-out and as many training images, for the
  generalisation comparison; with `mechanism` settings, also 'mechanism'
  (`mechanism_scores`). Each part is recomputed only when its settings
  change.
  """
  path = os.path.join(workdir, "eval", f"metrics_{step}.json")
  done = {}
  if os.path.exists(path):
    with open(path) as f:
      done = json.load(f)
  start, settings = time.perf_counter(), (scale, list(points), sorted(metrics))
  stale_scores = (done.get("scale"), done.get("points"),
                  sorted(done.get("metrics", ()))) != settings
  stale_elbo = done.get("elbo", {}).get("num_examples") != elbo_examples
  stale_mechanism = (mechanism is not None and
                     done.get("mechanism", {}).get("settings") != mechanism)
  if not (stale_scores or stale_elbo or stale_mechanism):
    return done
  iwae_settings = mechanism or {}
  run = trained_run.load(workdir, step, in_memory=False)  # Once.
  if stale_scores:
    kept = {k: done[k] for k in ("elbo", "mechanism") if k in done}
    done = suite.evaluate_run(run, suite.Scoring(
        metrics=tuple(metrics), seed=seed, scale=scale, num_train=points[0],
        num_test=points[1],
        iwae_samples=iwae_settings.get("iwae_samples",
                                       iwae.DEFAULT_NUM_SAMPLES),
        iwae_images=iwae_settings.get("iwae_images", suite.IWAE_IMAGES)))
    done.update(scale=scale, points=list(points), metrics=list(metrics),
                **kept)
  if stale_elbo:
    done["elbo"] = elbo_by_split(run, elbo_examples)
  if stale_mechanism:
    done["mechanism"] = mechanism_scores(run, jax.random.key(seed),
                                         mechanism)
    _match_held_out_iwae(done, run, jax.random.key(seed), mechanism)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  config_json.write(path, done)
  timing = read_timing(workdir)
  timing["eval_seconds"] = timing.get("eval_seconds", 0.0) + (
      time.perf_counter() - start)
  config_json.write(os.path.join(workdir, TIMING_FILE), timing)
  return done


def _match_held_out_iwae(done: dict, run: trained_run.TrainedRun,
                         key: jax.Array, settings: dict) -> None:
  """Rescores the held-out IWAE bound if its K differs from the training one.

  The suite's held-out bound is kept with the scores, so a change of
  `iwae_samples` alone would otherwise leave the two splits' bounds
  computed with different K and their gap meaningless.
  """
  held_out = [m["scores"].get("iwae", {}) for m in done["members"]]
  if all(b.get("num_samples") == settings["iwae_samples"] for b in held_out):
    return
  for member, bound in zip(done["members"], suite.iwae_scores(
      run, key, settings["iwae_samples"], settings["iwae_images"])):
    member["scores"]["iwae"] = bound


def mechanism_scores(run: trained_run.TrainedRun, key: jax.Array,
                     settings: dict) -> dict:
  """Per member: the KL's parts on training images, and their IWAE bound.

  The decomposition mixes q(z) over `decomposition_images` training
  images (so MI is at most log of that count) with z drawn from
  `decomposition_samples` of them. The training images' IWAE bound uses
  the held-out bound's settings (`iwae_samples`, `iwae_images`), so the two
  differ only in the images.
  """
  images, split = suite.split_images(
      run.dataset, settings["decomposition_images"], "train")
  parts = suite.latent_scalars(run.encode_fn(), images, key,
                               settings["decomposition_samples"])
  bounds = suite.iwae_scores(run, key, settings["iwae_samples"],
                             settings["iwae_images"], split="train")
  return {"settings": settings, "split": split,
          "members": [dict(p, iwae_train=b) for p, b in zip(parts, bounds)]}


def elbo_by_split(run: trained_run.TrainedRun, num_examples: int,
                  batch_size: int = 256) -> dict:
  """Per-member ELBO terms on held-out ('eval') and training images."""
  p_eval = steps.make_steps(run.config, run.model, run.pixel_max)[1]
  members = run.population.members()
  out = {"num_examples": num_examples}
  for split in ("eval", "train"):
    batches = input_pipeline.eval_batches(run.dataset, batch_size,
                                          num_examples, split=split)
    results = steps.eval_elbo(p_eval, run.params, members, batches)
    out[split] = [{k: np.asarray(v).tolist() for k, v in r.items()}
                  for r in results]
  return out


def read_timing(workdir: str) -> dict:
  path = os.path.join(workdir, TIMING_FILE)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  study = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join("runs",
                                           f"beta_sweep_{study.preset}")
  names = _RUNS.value or list(study.order)  # ConfigDict sorts its keys.
  for name in names:
    run_dir = os.path.join(workdir, name)
    logging.info("Study run %s -> %s", name, run_dir)
    config = study.runs[name]
    if not train_run(config, run_dir):
      logging.info("Interrupted; run the same command again to resume.")
      return
    score_run(run_dir, config.train.num_train_steps, study.metrics[name],
              study.metric_scale, tuple(study.metric_points),
              study.metric_seed, config.train.eval_num_examples,
              (study.mechanism.to_dict() if name in study.mechanism_runs
               else None))
  hardware = (f"{os.cpu_count()} CPU cores ({platform.machine()}), "
              f"{jax.default_backend()} backend: "
              f"{', '.join(str(d) for d in jax.devices())}")
  out = _OUT.value or os.path.join(workdir, "report")
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import report  # pylint: disable=g-import-not-at-top
  path = report.write_report(study, workdir, out, hardware, names)
  print(f"Wrote {path}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
