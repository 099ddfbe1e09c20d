r"""The reproduction study: beta-VAEs on dSprites at the papers' length.

  python -m betavae_jax.main \
      --config=experiments/reproduction/config.py:beta \
      --workdir=$HOME/reproduction/beta
  python -m betavae_jax.main \
      --config=experiments/reproduction/config.py:capacity \
      --workdir=$HOME/reproduction/capacity

Burgess et al. 2018's settings, the published recipe that converges fastest:
four 4x4 stride-2 convolutions of 32 channels, two dense layers of 256, 10
latents, a Bernoulli decoder, Adam at 5e-4, batch 64. A tenth of the factor
combinations is held out, so reconstruction and KL are measured on images
the models never saw. Checkpoints are written every 1,000 steps (a killed
run loses little) and those at multiples of 5,000 are kept, so the study is
scored afterwards at 10k, 25k, 50k, 100k steps and beyond
(`python -m experiments.reproduction.run`).

Presets (the string after ':'):
  beta:     beta in {1, 4, 16}, seed 0, one vmapped population, 100k steps.
  capacity: gamma |KL - C| with gamma = 1000 and C linear 0 -> 25 nats over
            100k steps, seed 0, 100k steps.
  grid:     beta in {1, 2, 4, 6, 8, 16} x seeds {0, 1, 2}, 300k steps; for
            an accelerator.
  smoke, smoke_capacity: the beta and capacity presets' shapes on the
            synthetic data, a few steps (for tests).
"""

import ml_collections

from betavae_jax import base_config

PRESETS = ("beta", "capacity", "grid", "smoke", "smoke_capacity")
# Steps at which the study is scored; the runs keep these checkpoints.
EVAL_STEPS = (10_000, 25_000, 50_000, 100_000, 200_000, 300_000)
# The metric suite at the published sizes (Locatello et al. 2019), at three
# keys for each score's own sampling spread.
# The IWAE bound (Burda et al. 2016) with K = 1000 on 256 held-out images.
PUBLISHED_SCORING = {"scale": 1.0, "points": [10_000, 5_000], "draws": 3,
                     "seed": 0, "iwae_samples": 1000, "iwae_images": 256}


def _burgess(config: ml_collections.ConfigDict) -> None:
  """Burgess et al.'s dSprites model and optimiser, He-initialised.

  He (Kaiming) uniform kernels keep the activations' scale through the
  ReLU layers: the net converges in fewer images than with flax's LeCun
  default (docs/initialisation.md).
  """
  config.model.conv_channels = (32, 32, 32, 32)
  config.model.dense_sizes = (256, 256)
  config.model.kernel_init = "he_uniform"
  config.model.latent_dim = 10
  config.objective.likelihood = "bernoulli"
  config.optim.learning_rate = 5e-4
  config.train.batch_size = 64


def _schedule(config: ml_collections.ConfigDict, steps: int) -> None:
  """Logging, evaluation and checkpoint cadence of a long run."""
  train = config.train
  train.num_train_steps = steps
  train.log_every_steps = 500
  train.eval_every_steps = 5_000
  train.eval_num_examples = 10_000
  train.eval_metrics = ()  # Scored afterwards at the published sizes.
  train.plot_every_steps = 25_000
  train.checkpoint_every_steps = 1_000
  train.max_checkpoints_to_keep = 2
  train.keep_checkpoint_every_steps = 5_000


def get_config(preset: str = "beta") -> ml_collections.ConfigDict:
  """One run of the study."""
  if preset not in PRESETS:
    raise ValueError(f"Unknown preset {preset!r}; known: {PRESETS}.")
  config = base_config.base_config()
  config.name = f"reproduction_{preset}"
  _burgess(config)
  config.data.eval_fraction = 0.1
  config.data.split_seed = 0
  _schedule(config, 300_000 if preset == "grid" else 100_000)
  if preset in ("beta", "smoke"):
    config.population.betas = (1.0, 4.0, 16.0)
    config.population.seeds = (0,)
  elif preset in ("capacity", "smoke_capacity"):
    config.objective.name = "capacity"
    config.objective.capacity.gamma = 1000.0
    config.objective.capacity.max = 25.0
    config.objective.capacity.schedule.transition_steps = 100_000
  else:
    config.population.betas = (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)
    config.population.seeds = (0, 1, 2)
  if preset.startswith("smoke"):
    config.data.name = "synthetic"
    config.data.eval_fraction = 0.0
    _schedule(config, 20)
    config.train.log_every_steps = 5
    config.train.eval_every_steps = 10
    config.train.eval_num_examples = 256
    config.train.plot_every_steps = 0
    config.train.checkpoint_every_steps = 5
    config.train.keep_checkpoint_every_steps = 10
    config.objective.capacity.schedule.transition_steps = 20
  return config


def eval_steps(preset: str) -> tuple[int, ...]:
  """The steps at which `run.py` scores the preset's run."""
  if preset.startswith("smoke"):
    return (10, 20)
  last = get_config(preset).train.num_train_steps
  return tuple(s for s in EVAL_STEPS if s <= last)


def scoring(preset: str) -> dict:
  """How `run.py` scores a step: sizes, draws and the metrics' seed."""
  if preset.startswith("smoke"):
    return {"scale": 0.01, "points": [400, 200], "draws": 2, "seed": 0,
            "iwae_samples": 20, "iwae_images": 16}
  return dict(PUBLISHED_SCORING)


def shipped_names(preset: str) -> dict[str, str]:
  """Member name -> the name its model ships under."""
  config = get_config(preset)
  if config.objective.name == "capacity":
    return {"": preset}
  prefix = "" if preset == "beta" else f"{preset}_"
  names = {}
  for beta in config.population.betas:
    for seed in config.population.seeds:
      member = (f"beta={beta:g}" if len(config.population.seeds) == 1
                else f"beta={beta:g},seed={seed}")
      suffix = "" if len(config.population.seeds) == 1 else f"_seed{seed}"
      names[member] = f"{prefix}beta{beta:g}{suffix}"
  return names
