r"""How the kernel initialiser changes the images a model needs to converge.

  python -m benchmarks.kernel_init --workdir=$HOME/kernel_init \
      [--inits=he_uniform,he_normal,lecun_normal,glorot_uniform] \
      [--seeds=0,1,2] [--steps=10000] [--output=kernel_init.json]

Trains the reproduction study's net (experiments/reproduction/config.py:
Burgess et al.'s four 32-channel convolutions, two dense 256, Bernoulli
decoder, Adam 5e-4, batch 64, a tenth of dSprites held out) at beta = 1
with the KL weight warmed up linearly over `--steps`, once per initialiser
and seed, each in `<workdir>/<init>/seed<seed>` (a killed benchmark resumes
its runs when started again). Seeds run in the outer loop, so a benchmark
stopped early has every initialiser at the same number of seeds.

Prints, per initialiser (mean +- standard deviation over seeds), the mean
training reconstruction over three windows of steps, and the held-out
ELBO, reconstruction, KL and active latents at the last step; writes every
run's figures as JSON.
"""

import json
import os

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from betavae_jax import config_json
from betavae_jax import metric_writer
from betavae_jax import models
from betavae_jax import process
from betavae_jax import schedules
from betavae_jax import train
from experiments.reproduction import config as study

_WORKDIR = flags.DEFINE_string("workdir", None, "One folder per run.",
                               required=True)
_INITS = flags.DEFINE_list(
    "inits", ["he_uniform", "he_normal", "lecun_normal", "glorot_uniform"],
    f"Initialisers to compare: {tuple(models.KERNEL_INITS)}.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of each.")
_STEPS = flags.DEFINE_integer("steps", 10_000,
                              "Train steps, also the KL warm-up's length.")
_OUTPUT = flags.DEFINE_string("output", "kernel_init.json", "JSON path.")
_PRESET = flags.DEFINE_string(
    "preset", "beta", "The preset of experiments/reproduction/config.py "
    "whose net and data the runs use ('smoke': synthetic data, for tests).")

LOG_EVERY = 500  # Each log record averages the steps since the last.
HELDOUT = ("elbo", "recon", "kl", "active_latents")


def run_config(init: str, seed: int, steps: int, preset: str = "beta"
               ) -> ml_collections.ConfigDict:
  """The study's beta preset cut to one member at beta 1, warmed up."""
  config = study.get_config(preset)
  config.name = f"kernel_init_{init}_seed{seed}"
  config.model.kernel_init = init
  config.population.betas = (1.0,)
  config.population.seeds = (seed,)
  config.objective.beta_schedule = schedules.schedule_config(
      "linear", transition_steps=steps)
  train_cfg = config.train
  train_cfg.num_train_steps = steps
  train_cfg.log_every_steps = max(1, min(LOG_EVERY, steps // 20))
  train_cfg.eval_every_steps = steps
  train_cfg.plot_every_steps = 0
  train_cfg.checkpoint_every_steps = 1_000
  train_cfg.keep_checkpoint_every_steps = 0
  return config


def windows(steps: int) -> tuple[tuple[int, int], ...]:
  """Steps 1-1,500 and 1,501-3,000 (where inits differ), and the last 20%."""
  early = min(1_500, steps // 4)
  return ((1, early), (early + 1, 2 * early),
          (steps - steps // 5 + 1, steps))


def summarise(workdir: str, steps: int) -> dict:
  """A finished run's training recon per window and held-out terms."""
  records = metric_writer.read_metrics(workdir)
  train_recon = {r["step"]: r["train/recon"] for r in records
                 if "train/recon" in r}
  result = {}
  for first, last in windows(steps):
    logged = [v for s, v in train_recon.items() if first <= s <= last]
    result[f"train_recon_{first}_{last}"] = float(np.mean(logged))
  final = next(r for r in records if r["step"] == steps and "eval/elbo" in r)
  result.update({f"heldout_{k}": final[f"eval/{k}"] for k in HELDOUT})
  return result


def table(results: dict, steps: int) -> str:
  """Markdown: per initialiser, mean +- sd over seeds of each figure (the
  value alone for one seed)."""
  columns = [f"train_recon_{a}_{b}" for a, b in windows(steps)] + [
      f"heldout_{k}" for k in HELDOUT]
  heads = [f"train recon {a:,}-{b:,}" for a, b in windows(steps)] + [
      f"held-out {k.replace('_', ' ')}" for k in HELDOUT]
  lines = ["| init | seeds | " + " | ".join(heads) + " |",
           "|---" * (len(heads) + 2) + "|"]
  for init, by_seed in results.items():
    cells = []
    for c in columns:
      values = np.array([r[c] for r in by_seed.values()])
      cells.append(f"{values.mean():.1f}" + (
          f" ± {values.std():.1f}" if len(values) > 1 else ""))
    lines.append(f"| {init} | {len(by_seed)} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def run(inits: list[str], seeds: list[int], steps: int, root: str,
        output: str, preset: str = "beta") -> dict | None:
  """Trains (or resumes) every run; {init: {seed: figures}}, None if a
  signal stopped it. The figures so far are written to `output` as each
  run ends."""
  results = {init: {} for init in inits}
  for seed in seeds:
    for init in inits:
      config = run_config(init, seed, steps, preset)
      workdir = os.path.join(root, init, f"seed{seed}")
      if not train.train_or_resume(config, workdir):
        return None
      results[init][seed] = summarise(workdir, steps)
      config_json.write(output, {"steps": steps, "results": results})
  return results


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  results = run(_INITS.value, [int(s) for s in _SEEDS.value], _STEPS.value,
                _WORKDIR.value, _OUTPUT.value, _PRESET.value)
  if results is None:
    logging.info("Interrupted; run the same command again to resume.")
    return
  print(table(results, _STEPS.value))
  print(json.dumps({"steps": _STEPS.value, "results": results}, indent=1))


if __name__ == "__main__":
  app.run(main)
