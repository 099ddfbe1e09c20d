r"""Scores a trained run with the disentanglement metric suite.

  python -m betavae_jax.evaluate --workdir=runs/dsprites [--step=N] \
      [--metrics=mig,dci] [--representation=mean] [--scale=1.0] \
      [--num_train=10000 --num_test=5000]

Restores the newest (or the named) checkpoint and calls
`evaluation.suite.evaluate_run`, which scores every population member on
the same images, adds UDR across members for a population, and writes
`<workdir>/eval/metrics_<step>.json`; a short table goes to the console.
"""

from collections.abc import Sequence
import os
import sys

from absl import app
from absl import flags

from betavae_jax import evaluation
from betavae_jax import iwae
from betavae_jax import pretrained
from betavae_jax import process
from betavae_jax import trained_run
from betavae_jax.evaluation import suite


def main(argv: Sequence[str]) -> None:
  del argv
  process.setup()
  f = flags.FLAGS
  metrics = tuple(f.metrics.split(",")) if f.metrics else evaluation.METRICS
  workdir = f.workdir or os.path.join("runs", f"pretrained_{f.pretrained}")
  try:
    if not (f.workdir or f.pretrained):
      raise trained_run.RunError("Pass --workdir=<run> or --pretrained="
                                 "<name> (one of "
                                 f"{', '.join(pretrained.available())}).")
    report = suite.evaluate_run(workdir, f.step, metrics, f.representation,
                          f.seed, f.scale, f.num_train, f.num_test, f.draws,
                          f.iwae_samples, f.iwae_images, f.pretrained)
  except trained_run.LOAD_ERRORS as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(2)
  print(suite.format_table(report))
  for member in report["members"]:
    for name, s in member.get("spread", {}).items():
      print(f"{member['name'] or 'model'} {name}: {s['mean']:.4f} +- "
            f"{s['std']:.4f} (min {s['min']:.4f}, max {s['max']:.4f}, "
            f"{len(s['values'])} draws)")
  for correlation, result in report.get("udr", {}).items():
    print(f"UDR ({correlation}):", " ".join(f"{u:.3f}" for u in result["udr"]))
  print(f"Wrote {report['path']}")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "The run to evaluate (with "
                      "--pretrained: where its scores go).")
  flags.DEFINE_string("pretrained", None, "Score this shipped model "
                      "(betavae_jax.pretrained.available()) instead; scores "
                      "go to --workdir, default runs/pretrained_<name>.")
  flags.DEFINE_integer("step", None, "Checkpoint step; default the newest.")
  flags.DEFINE_string("metrics", "", "Comma-separated subset of "
                      f"{','.join(evaluation.METRICS)}; default all.")
  flags.DEFINE_enum("representation", "mean", ["mean", "sample"],
                    "Score posterior means (published default) or samples.")
  flags.DEFINE_integer("seed", 0, "Seed of the metrics' sampling.")
  flags.DEFINE_float("scale", 1.0, "Fraction of the published sample sizes "
                     "of BetaVAE and FactorVAE (recorded with every score); "
                     "< 1 for quick CPU runs.")
  flags.DEFINE_integer("num_train", 10000, "Training points of MIG, DCI, "
                       "SAP and modularity (published: 10,000).")
  flags.DEFINE_integer("num_test", 5000, "Test points of DCI, SAP and "
                       "explicitness (published: 5,000).")
  flags.DEFINE_integer("draws", 1, "Repeat the suite at this many keys and "
                       "report each score's spread; the grid is encoded "
                       "once, so extra draws cost only the metric fits.")
  flags.DEFINE_integer("iwae_samples", iwae.DEFAULT_NUM_SAMPLES,
                       "K of the IWAE bound on log p(x) (Burda et al.).")
  flags.DEFINE_integer("iwae_images", suite.IWAE_IMAGES, "Held-out images the "
                       "IWAE bound averages over; 0 skips it.")
  app.run(main)
