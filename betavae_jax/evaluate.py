r"""Scores a trained run with the disentanglement metric suite.

  python -m betavae_jax.evaluate --workdir=runs/dsprites [--step=N] \
      [--metrics=mig,dci] [--representation=mean] [--scale=1.0] \
      [--num_train=10000 --num_test=5000]

Loads the newest (or the named) checkpoint, or a shipped model, and calls
`evaluation.suite.evaluate_run`, which scores every population member on
the same images and adds UDR across members for a population; the report
goes to `<workdir>/eval/metrics_<step>.json`, a short table to the console.
"""

from collections.abc import Sequence
import os
import sys

from absl import app
from absl import flags

from betavae_jax import config_json
from betavae_jax import evaluation
from betavae_jax import iwae
from betavae_jax import pretrained
from betavae_jax import process
from betavae_jax import trained_run
from betavae_jax.evaluation import suite

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "The run to evaluate (with --pretrained: where its "
    "scores go).")
_PRETRAINED = flags.DEFINE_string(
    "pretrained", None, "Score this shipped model "
    "(betavae_jax.pretrained.available()) instead; scores go to --workdir, "
    "default runs/pretrained_<name>.")
_STEP = flags.DEFINE_integer("step", None,
                             "Checkpoint step; default the newest.")
_METRICS = flags.DEFINE_string(
    "metrics", "", "Comma-separated subset of "
    f"{','.join(evaluation.METRICS)}; default all.")
_REPRESENTATION = flags.DEFINE_enum(
    "representation", "mean", ["mean", "sample"],
    "Score posterior means (published default) or samples.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the metrics' sampling.")
_SCALE = flags.DEFINE_float(
    "scale", 1.0, "Fraction of the published sample sizes of BetaVAE and "
    "FactorVAE (recorded with every score); < 1 for quick CPU runs.")
_NUM_TRAIN = flags.DEFINE_integer(
    "num_train", 10000, "Training points of MIG, DCI, SAP and modularity "
    "(published: 10,000).")
_NUM_TEST = flags.DEFINE_integer(
    "num_test", 5000, "Test points of DCI, SAP and explicitness "
    "(published: 5,000).")
_DRAWS = flags.DEFINE_integer(
    "draws", 1, "Repeat the suite at this many keys and report each score's "
    "spread; the grid is encoded once, so extra draws cost only the metric "
    "fits.")
_IWAE_SAMPLES = flags.DEFINE_integer(
    "iwae_samples", iwae.DEFAULT_NUM_SAMPLES,
    "K of the IWAE bound on log p(x) (Burda et al.).")
_IWAE_IMAGES = flags.DEFINE_integer(
    "iwae_images", suite.IWAE_IMAGES,
    "Held-out images the IWAE bound averages over; 0 skips it.")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  name = _PRETRAINED.value
  workdir = _WORKDIR.value or os.path.join("runs", f"pretrained_{name}")
  scoring = suite.Scoring(
      metrics=(tuple(_METRICS.value.split(",")) if _METRICS.value
               else evaluation.METRICS),
      representation=_REPRESENTATION.value, seed=_SEED.value,
      scale=_SCALE.value, num_train=_NUM_TRAIN.value,
      num_test=_NUM_TEST.value, draws=_DRAWS.value,
      iwae_samples=_IWAE_SAMPLES.value, iwae_images=_IWAE_IMAGES.value)
  try:
    if not (_WORKDIR.value or name):
      raise trained_run.RunError("Pass --workdir=<run> or --pretrained="
                                 "<name> (one of "
                                 f"{', '.join(pretrained.available())}).")
    run = (trained_run.from_pretrained(name, workdir) if name
           else trained_run.load(workdir, _STEP.value))
    report = suite.evaluate_run(run, scoring)
  except trained_run.LOAD_ERRORS as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(2)
  path = os.path.join(workdir, "eval", f"metrics_{run.step}.json")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  config_json.write(path, report)
  print(suite.format_table(report))
  for member in report["members"]:
    for metric, s in member.get("spread", {}).items():
      print(f"{member['name'] or 'model'} {metric}: {s['mean']:.4f} +- "
            f"{s['std']:.4f} (min {s['min']:.4f}, max {s['max']:.4f}, "
            f"{len(s['values'])} draws)")
  for correlation, result in report.get("udr", {}).items():
    print(f"UDR ({correlation}):", " ".join(f"{u:.3f}" for u in result["udr"]))
  print(f"Wrote {path}")


if __name__ == "__main__":
  app.run(main)
