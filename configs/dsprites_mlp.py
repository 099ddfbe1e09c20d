r"""The beta-VAE paper's fully connected model on dSprites (beta = 4).

Encoder 4096-1200-1200-2x10 (ReLU), decoder 10-1200-1200-1200-4096 (tanh),
as in Higgins et al. 2017, appendix A.

  python -m betavae_jax.main --config=configs/dsprites_mlp.py
"""

from betavae_jax import base_config


def get_config():
  config = base_config.base_config()
  config.name = "dsprites_mlp"
  config.model.name = "mlp"
  return config
