r"""Re-scores chosen members of a trained population at the published sizes.

The β sweep scores all of its members with the BetaVAE and FactorVAE points
cut to `metric_scale` of the published 10,000 / 5,000 (a CPU budget). This
script scores a few members with every metric at the published defaults of
Locatello et al. 2019, for comparison with their ranges, and writes the
scores as JSON and a Markdown table.

  python experiments/beta_sweep/score_published.py \
      --workdir=runs/beta_sweep_cpu/sweep --betas=1,4 \
      --out=experiments/beta_sweep/published_defaults
"""

import argparse
import json
import time

import jax
import numpy as np

from betavae_jax import evaluation
from betavae_jax import process
from betavae_jax import trained_run
from betavae_jax.evaluation import suite

COLUMNS = ("beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "mig.mig",
           "dci.disentanglement", "sap.sap", "modularity.modularity")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--betas", default="1,4",
                      help="Members with these betas (every seed).")
  parser.add_argument("--seed", type=int, default=0, help="Metric key.")
  parser.add_argument("--out", required=True, help="Path without suffix.")
  args = parser.parse_args()
  process.setup()
  run = trained_run.load(args.workdir)
  betas = {float(b) for b in args.betas.split(",")}
  chosen = [i for i, b in enumerate(run.population.betas) if b in betas]
  if not chosen:
    raise SystemExit(f"no member has a beta in {sorted(betas)}.")
  params = jax.tree.map(lambda a: a[np.asarray(chosen)], run.params)
  encode, _ = run.jitted_population()
  start = time.perf_counter()
  members = suite.score_population(
      run.dataset.ground_truth, lambda x: encode(params, x),
      jax.random.key(args.seed), evaluation.METRICS)
  seconds = time.perf_counter() - start
  names = [run.population.names[i] for i in chosen]
  with open(args.out + ".json", "w") as f:
    json.dump({"workdir": args.workdir, "step": run.step, "seconds": seconds,
               "members": dict(zip(names, members))}, f, indent=1,
              default=float)
  lines = ["| member | " + " | ".join(COLUMNS) + " |",
           "|---" * (len(COLUMNS) + 1) + "|"]
  for name, member in zip(names, members):
    flat = suite.flat_scores(member)
    lines.append(f"| {name} | " + " | ".join(f"{flat[c]:.3f}"
                                             for c in COLUMNS) + " |")
  table = "\n".join(lines)
  with open(args.out + ".md", "w") as f:
    f.write(f"Step {run.step} of `{args.workdir}`, every metric at the "
            f"published sizes on the posterior mean; {seconds:.0f} s.\n\n"
            f"{table}\n")
  print(table)


if __name__ == "__main__":
  main()
