r"""Re-scores chosen members of a trained population at the published sizes.

The β sweep scores all of its members with the BetaVAE and FactorVAE points
cut to `metric_scale` of the published 10,000 / 5,000 (a CPU budget). This
script scores a few members with every metric at the published defaults of
Locatello et al. 2019, for comparison with their ranges, and writes the
scores as JSON and a Markdown table.

  python -m experiments.beta_sweep.score_published \
      --workdir=runs/beta_sweep_cpu/sweep --betas=1,4 \
      --out=experiments/beta_sweep/published_defaults
"""

import json
import time

from absl import app
from absl import flags
import jax
import numpy as np

from betavae_jax import evaluation
from betavae_jax import process
from betavae_jax import trained_run
from betavae_jax.evaluation import suite

COLUMNS = ("beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "mig.mig",
           "dci.disentanglement", "sap.sap", "modularity.modularity")


_WORKDIR = flags.DEFINE_string("workdir", None, "The trained population.",
                               required=True)
_BETAS = flags.DEFINE_list("betas", ["1", "4"],
                           "Members with these betas (every seed).")
_SEED = flags.DEFINE_integer("seed", 0, "Metric key.")
_OUT = flags.DEFINE_string("out", None, "Path without suffix.", required=True)


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  try:
    run = trained_run.load(_WORKDIR.value)
  except trained_run.LOAD_ERRORS as e:
    raise SystemExit(f"Error: {e}") from e
  betas = {float(b) for b in _BETAS.value}
  chosen = [i for i, b in enumerate(run.population.betas) if b in betas]
  if not chosen:
    raise SystemExit(f"no member has a beta in {sorted(betas)}.")
  params = jax.tree.map(lambda a: a[np.asarray(chosen)], run.params)
  encode, _ = run.jitted_population()
  start = time.perf_counter()
  members = suite.score_population(
      run.dataset.ground_truth, lambda x: encode(params, x),
      jax.random.key(_SEED.value), evaluation.METRICS)
  seconds = time.perf_counter() - start
  names = [run.population.names[i] for i in chosen]
  with open(_OUT.value + ".json", "w") as f:
    json.dump({"workdir": _WORKDIR.value, "step": run.step, "seconds": seconds,
               "members": dict(zip(names, members))}, f, indent=1,
              default=float)
  lines = ["| member | " + " | ".join(COLUMNS) + " |",
           "|---" * (len(COLUMNS) + 1) + "|"]
  for name, member in zip(names, members):
    flat = suite.flat_scores(member)
    lines.append(f"| {name} | " + " | ".join(f"{flat[c]:.3f}"
                                             for c in COLUMNS) + " |")
  table = "\n".join(lines)
  with open(_OUT.value + ".md", "w") as f:
    f.write(f"Step {run.step} of `{_WORKDIR.value}`, every metric at the "
            f"published sizes on the posterior mean; {seconds:.0f} s.\n\n"
            f"{table}\n")
  print(table)


if __name__ == "__main__":
  app.run(main)
