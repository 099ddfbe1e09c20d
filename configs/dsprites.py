r"""beta-VAE (beta = 4) with the conv encoder/decoder on dSprites.

Settings of Locatello et al. 2019: Adam, lr 1e-4, batch 64, 10 latents,
Bernoulli decoder, 300k steps.

  python -m betavae_jax.main --config=configs/dsprites.py
  python -m betavae_jax.main --config=configs/dsprites.py:smoke

Presets (the string after ':'):
  smoke: 300 steps on dSprites, for a quick end-to-end check on a CPU,
    with an evaluation, MIG and plots. Expected: train recon about 430 and
    KL about 9 nats over the last 50 steps (docs/performance.md has the
    wall time).
"""

from betavae_jax import base_config


def get_config(preset: str = ""):
  config = base_config.base_config()
  # He kernels: fewer images to converge (docs/initialisation.md).
  config.model.kernel_init = "he_uniform"
  if preset == "smoke":
    config.name = "dsprites_smoke"
    config.train.num_train_steps = 300
    config.train.log_every_steps = 50
    config.train.eval_every_steps = 300
    config.train.eval_num_examples = 1024
    config.train.checkpoint_every_steps = 100
    # Reading 300 steps of batches costs less than loading all of dSprites
    # into memory first (docs/performance.md).
    config.data.in_memory = False
  elif preset:
    raise ValueError(f"Unknown preset {preset!r}; known: 'smoke'.")
  return config
