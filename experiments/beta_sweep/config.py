r"""The beta-sweep study: which claims of the beta-VAE theory hold here.

  python -m experiments.beta_sweep.run \
      --config=experiments/beta_sweep/config.py:cpu
  python -m experiments.beta_sweep.run \
      --config=experiments/beta_sweep/config.py:paper

A study is a set of training runs, each a full training config (so every
knob of `base_config` exists in each), plus how to score them:

  sweep:     beta in {0.5, 1, 2, 4, 8, 16} x seeds, one vmapped population,
             with a held-out split of factor combinations never trained on;
  anneal:    beta = 4 reached by a linear ramp from 0, against the sweep's
             constant beta = 4;
  capacity:  Burgess et al.'s gamma |KL - C| with C raised linearly;
  tcvae:     beta-TCVAE (Chen et al. 2018), beta weighting the total
             correlation alone, on a smaller beta grid;
  conv_z32, mlp_z10, mlp_z32: a smaller beta grid on the other models,
             with the sweep's conv / 10 latents as the fourth cell.

Presets (the string after ':'):
  cpu:   under 2 hours on 2 CPU cores: 2,000 steps, learning rate 5e-4
         (the papers' 300k steps at 1e-4 do not fit), BetaVAE and FactorVAE
         on 5% of their published points, the other metrics on 4,000 /
         2,000. Early-training figures.
  paper: the published settings (Locatello et al. 2019): 300k steps,
         lr 1e-4, metrics at full size; for a GPU or TPU.
  smoke: seconds on the synthetic data; checks the study end to end.

For the sweep, anneal, capacity and tcvae runs the scores also hold the
KL's parts (MI, TC, dim-KL; `kl_decomposition.dataset_decomposition`) and
the IWAE bound on training images beside the held-out one.
"""

import ml_collections

from betavae_jax import base_config
from betavae_jax import metric_names
from betavae_jax import schedules

BETAS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
GRID_BETAS = (1.0, 4.0, 16.0)

_PRESETS = {
    # scale: of the BetaVAE / FactorVAE points; points: (train, test) of
    # MIG, DCI, SAP and modularity.
    # mechanism: (decomposition images, samples), (IWAE K, images).
    "cpu": dict(steps=2000, lr=5e-4, seeds=(0, 1), scale=0.05,
                points=(4000, 2000), mechanism=((32768, 2048), (1000, 128))),
    "paper": dict(steps=300_000, lr=1e-4, seeds=(0, 1, 2), scale=1.0,
                  points=(10000, 5000),
                  mechanism=((737_280, 10000), (1000, 1000))),
    "smoke": dict(steps=20, lr=1e-3, seeds=(0, 1), scale=0.01,
                  points=(500, 250), mechanism=((256, 128), (10, 16))),
}


def _run(preset: dict, smoke: bool) -> ml_collections.ConfigDict:
  """A training config with the study's shared settings."""
  config = base_config.base_config()
  config.optim.learning_rate = preset["lr"]
  config.data.eval_fraction = 0.1  # Held-out factor combinations.
  steps = preset["steps"]
  train = config.train
  train.num_train_steps = steps
  train.log_every_steps = max(steps // 60, 1)
  train.eval_every_steps = max(steps // 6, 1)
  train.eval_num_examples = 2048
  train.eval_metrics = ()  # Scored after training, at the study's scale.
  train.plot_every_steps = steps
  train.checkpoint_every_steps = max(steps // 6, 1)
  if smoke:
    config.data.name = "synthetic"
    config.model.conv_channels = (8, 8, 16)
    config.model.dense_sizes = (32,)
    config.model.encoder_hidden = (64,)
    config.model.decoder_hidden = (64, 64)
    train.batch_size = 16
    train.eval_batch_size = 32
    train.eval_num_examples = 64
  return config


def get_config(preset: str = "cpu") -> ml_collections.ConfigDict:
  if preset not in _PRESETS:
    raise ValueError(f"Unknown preset {preset!r}; known: {sorted(_PRESETS)}.")
  p, smoke = _PRESETS[preset], preset == "smoke"
  runs = {}

  runs["sweep"] = _run(p, smoke)
  runs["sweep"].population.betas = BETAS
  runs["sweep"].population.seeds = p["seeds"]

  runs["anneal"] = _run(p, smoke)
  runs["anneal"].objective.beta = 4.0
  # beta from ~0 to 4 over the first third of training, then constant.
  runs["anneal"].objective.beta_schedule = schedules.schedule_config(
      "linear", transition_steps=p["steps"] // 3)
  runs["anneal"].population.seeds = p["seeds"]

  runs["capacity"] = _run(p, smoke)
  runs["capacity"].objective.name = "capacity"
  runs["capacity"].objective.capacity.schedule.transition_steps = (
      p["steps"] * 4 // 5)
  runs["capacity"].population.seeds = p["seeds"][:1]

  runs["tcvae"] = _run(p, smoke)
  runs["tcvae"].objective.name = "tcvae"
  runs["tcvae"].population.betas = GRID_BETAS
  runs["tcvae"].population.seeds = p["seeds"][:1]

  for name, model, latents in (("conv_z32", "conv", 32),
                               ("mlp_z10", "mlp", 10),
                               ("mlp_z32", "mlp", 32)):
    run = runs[name] = _run(p, smoke)
    run.model.name = model
    run.model.latent_dim = latents
    run.population.betas = GRID_BETAS
    run.population.seeds = p["seeds"][:1]

  for name, run in runs.items():
    run.name = f"beta_sweep_{name}"

  every_metric = metric_names.METRICS
  return ml_collections.ConfigDict(dict(
      preset=preset,
      runs=runs,
      order=("sweep", "anneal", "capacity", "tcvae", "conv_z32", "mlp_z10",
             "mlp_z32"),
      # Metrics per run after training; UDR is added for populations.
      metrics=dict(sweep=every_metric, anneal=every_metric,
                   capacity=every_metric, tcvae=every_metric,
                   conv_z32=("factor_vae", "mig", "dci"),
                   mlp_z10=("factor_vae", "mig", "dci"),
                   mlp_z32=("factor_vae", "mig", "dci")),
      metric_scale=p["scale"],
      metric_points=p["points"],
      metric_seed=0,
      # The KL's parts (q(z) mixed over this many training images, at most
      # all of them) and the IWAE bound on held-out and training images,
      # for the runs whose mechanism the report compares.
      mechanism_runs=("sweep", "anneal", "capacity", "tcvae"),
      mechanism=dict(decomposition_images=p["mechanism"][0][0],
                     decomposition_samples=p["mechanism"][0][1],
                     iwae_samples=p["mechanism"][1][0],
                     iwae_images=p["mechanism"][1][1]),
  ))
