r"""Controlled-capacity beta-VAE (Burgess et al. 2018) on dSprites.

Loss = -E[log p(x|z)] + gamma * |KL - C|, gamma = 1000 and C rising linearly
from 0 to 25 nats over 100k steps (the paper's dSprites settings), with the
Burgess conv architecture (32 channels everywhere, two dense layers of 256).

  python -m betavae_jax.main --config=configs/dsprites_capacity.py
"""

from betavae_jax import base_config


def get_config():
  config = base_config.base_config()
  config.name = "dsprites_capacity"
  config.objective.name = "capacity"
  config.model.conv_channels = (32, 32, 32, 32)
  config.model.dense_sizes = (256, 256)
  # He kernels: fewer images to converge (docs/initialisation.md).
  config.model.kernel_init = "he_uniform"
  config.optim.learning_rate = 5e-4
  return config
