r"""Trains, scores and reports the beta-sweep study in one resumable command.

  python -m experiments.beta_sweep.run \
      --config=experiments/beta_sweep/config.py:cpu \
      [--workdir=runs/beta_sweep_cpu] [--out=experiments/beta_sweep]

Each run of the study (experiments/beta_sweep/config.py) trains with
`train.train_and_evaluate` in `<workdir>/<run>` (a population is one
vmapped program), is scored with `evaluation.suite.evaluate_run` at the
study's metric scale, and `report.write_report` then writes README.md and
plots/ into --out. Interrupt it at any point and run the same command again: the
training resumes from checkpoints and finished scores are not recomputed.
"""

import functools
import os
import platform
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
from experiments import results
from experiments.beta_sweep import analysis
from experiments.beta_sweep import report

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Study config (experiments/beta_sweep/config.py:<preset>).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where the runs go; default runs/beta_sweep_<preset>.")
_OUT = flags.DEFINE_string(
    "out", None, "Where README.md and plots/ go; default <workdir>/report.")
_RUNS = flags.DEFINE_list("runs", None, "A subset of the study's runs.")


def train_run(config, workdir: str) -> bool:
  """Trains (or resumes) one run, adding its wall time to its timing file.

  Returns:
    Whether the run reached its last step (False after SIGTERM / SIGINT,
    which save a checkpoint and return early, or stop start-up before
    anything is written).
  """
  start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  finished = train.train_or_resume(config, workdir)
  _add_time(workdir, "train_seconds", time.perf_counter() - start)
  return finished


def _add_time(workdir: str, what: str, seconds: float) -> None:
  timing = analysis.read_timing(workdir)
  timing[what] = timing.get(what, 0.0) + seconds
  config_json.write(os.path.join(workdir, analysis.TIMING_FILE), timing)


def score_settings(study, name: str) -> dict[str, dict]:
  """What each part of a run's scores file is made with (see `score_run`)."""
  mechanism = (study.mechanism.to_dict() if name in study.mechanism_runs
               else {})
  iwae_samples = mechanism.get("iwae_samples", iwae.DEFAULT_NUM_SAMPLES)
  iwae_images = mechanism.get("iwae_images", suite.IWAE_IMAGES)
  settings = {
      "suite": {"metrics": sorted(study.metrics[name]),
                "scale": study.metric_scale,
                "points": list(study.metric_points),
                "seed": study.metric_seed},
      # The held-out bound uses the training bound's K and image count, so
      # the generalisation gap compares like with like.
      "iwae": {"samples": iwae_samples, "images": iwae_images,
               "seed": study.metric_seed},
      "elbo": {"num_examples": study.runs[name].train.eval_num_examples}}
  if mechanism:
    settings["mechanism"] = dict(mechanism, seed=study.metric_seed)
  return settings


def score_run(workdir: str, step: int, settings: dict[str, dict]) -> dict:
  """The run's eval/metrics_<step>.json, each part computed once.

  The parts: 'suite' (the metric suite per member, and UDR), 'iwae' (the
  IWAE bound on held-out images), 'elbo' (the ELBO terms of the final
  parameters on held-out and as many training images, for the
  generalisation comparison) and, for the runs the report explains,
  'mechanism' (`mechanism_scores`). Each part is recomputed only when its
  settings change, and the checkpoint is loaded once for all of them.
  """
  start = time.perf_counter()
  run = functools.cache(  # Loaded once, and only if a part is stale.
      lambda: trained_run.load(workdir, step, in_memory=False))

  def compute(done: dict, stale: set[str]) -> dict:
    del done  # Each part is computed afresh.
    new = {}
    if "suite" in stale:
      s = settings["suite"]
      new.update(suite.evaluate_run(run(), suite.Scoring(
          metrics=tuple(s["metrics"]), seed=s["seed"], scale=s["scale"],
          num_train=s["points"][0], num_test=s["points"][1],
          iwae_images=0)))
    if "iwae" in stale:
      s = settings["iwae"]
      new["iwae"] = suite.iwae_scores(run(), jax.random.key(s["seed"]),
                                      s["samples"], s["images"])
    if "elbo" in stale:
      new["elbo"] = elbo_by_split(run(), settings["elbo"]["num_examples"])
    if "mechanism" in stale:
      s = settings["mechanism"]
      new["mechanism"] = mechanism_scores(run(), jax.random.key(s["seed"]),
                                          s)
    return new

  done = results.cached_scores(
      results.scores_path(os.path.join(workdir, "eval"), step), settings,
      compute)
  if run.cache_info().misses:
    _add_time(workdir, "eval_seconds", time.perf_counter() - start)
  return done


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
  return {"split": split,
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
    terms = steps.eval_elbo(p_eval, run.params, members, batches)
    out[split] = [{k: np.asarray(v).tolist() for k, v in r.items()}
                  for r in terms]
  return out


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
    score_run(run_dir, config.train.num_train_steps,
              score_settings(study, name))
  hardware = (f"{os.cpu_count()} CPU cores ({platform.machine()}), "
              f"{jax.default_backend()} backend: "
              f"{', '.join(str(d) for d in jax.devices())}")
  out = _OUT.value or os.path.join(workdir, "report")
  path = report.write_report(study, workdir, out, hardware, names)
  print(f"Wrote {path}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
