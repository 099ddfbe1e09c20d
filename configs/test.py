r"""A tiny config for tests and CI: synthetic 32x32 data, a small conv model.

  python -m betavae_jax.main --config=configs/test.py --workdir=/tmp/t
"""

from betavae_jax import base_config


def get_config():
  config = base_config.base_config()
  config.name = "test"
  # Tests leave the user's cache alone; tests/conftest.py gives the session
  # (its subprocesses included) one cache of its own.
  config.compilation_cache_dir = ""
  config.data.name = "synthetic"
  config.data.eval_fraction = 0.1
  config.model.conv_channels = (8, 8, 16)
  config.model.dense_sizes = (32,)
  config.model.latent_dim = 4
  config.model.encoder_hidden = (64,)
  config.model.decoder_hidden = (64,)
  config.optim.learning_rate = 1e-3
  config.train.batch_size = 16
  config.train.num_train_steps = 20
  config.train.log_every_steps = 5
  config.train.eval_every_steps = 10
  config.train.eval_batch_size = 32
  config.train.eval_num_examples = 64
  config.train.checkpoint_every_steps = 10
  config.train.plot_every_steps = 0
  config.train.eval_metrics = ()
  return config
