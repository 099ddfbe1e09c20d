"""The full set of config fields, with the defaults every config starts from.

Files in `configs/` call `base_config()` and override a few fields, so every
knob exists in every config (a typo in `--config.x=` then fails loudly) and
its meaning is documented once, here. Every default is a literal: importing a
config imports ml_collections and `schedules`, never the data layer.
"""

import ml_collections
from ml_collections import config_dict

from betavae_jax import schedules


def base_config() -> ml_collections.ConfigDict:
  """dSprites, conv beta-VAE, beta = 4, Locatello et al. 2019 settings."""
  config = ml_collections.ConfigDict()
  config.name = "dsprites"  # The default workdir is runs/<name>.
  config.seed = 0  # Parameter init and latent noise of a single run.
  config.init_from = config_dict.placeholder(str)  # Another run's workdir.
  # XLA's on-disk cache of compiled programs ('' leaves JAX's setting, off
  # unless JAX_COMPILATION_CACHE_DIR is set): a resumed or repeated run
  # skips the compile (and on a GPU, the autotuning).
  config.compilation_cache_dir = "~/.cache/betavae_jax/xla"

  config.data = ml_collections.ConfigDict(dict(
      name="dsprites",  # 'dsprites', 'synthetic' or a tfds name (needs [tf]).
      source="auto",  # dSprites: 'auto' (file if found), 'file', 'render'.
      path=config_dict.placeholder(str),  # The official dSprites npz / hdf5.
      download=False,  # dSprites: fetch the official file (needs a network).
      # Where `download` fetches the official file from.
      url=("https://github.com/deepmind/dsprites-dataset/raw/master/"
           "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"),
      data_dir=config_dict.placeholder(str),  # tfds data dir ($TFDS_DATA_DIR).
      # dSprites: the betavae_dsprites version to read, e.g. '1.0.0'; None
      # is the current one. An older version is read as prepared in
      # data_dir (only the current one can be prepared).
      version=config_dict.placeholder(str),
      seed=0,  # Order of the training batches; shared by the population.
      eval_fraction=0.0,  # Share of factor combinations held out for eval.
      split_seed=0,  # Which combinations are held out.
      image_size=64,  # Resize target for tfds image datasets.
      num_threads=2,  # Host threads reading batches.
      prefetch=4,  # Blocks of batches read ahead of the train step.
      # Read every image into host memory at start (dSprites as bits) when
      # it takes at most in_memory_max_mib: the training loop's host time
      # per step then drops several-fold (docs/performance.md), which bounds
      # one model's training where its step is as fast (on a GPU). Larger
      # datasets are read per batch.
      in_memory=True,
      in_memory_max_mib=1024,
      # A resume onto another data version than the checkpoint's stops the
      # run; True makes that a warning (the run then mixes two datasets).
      allow_version_change=False,
  ))

  config.model = ml_collections.ConfigDict(dict(
      name="conv",  # 'conv' or 'mlp'.
      latent_dim=10,
      conv_channels=(32, 32, 64, 64),  # Burgess et al.: (32, 32, 32, 32).
      dense_sizes=(256,),  # Burgess et al.: (256, 256).
      kernel_size=4,
      encoder_hidden=(1200, 1200),  # mlp only.
      decoder_hidden=(1200, 1200, 1200),  # mlp only.
      dtype="float32",  # Compute dtype; 'bfloat16' for accelerators.
      # 'fast': conv_ops' custom-VJP convolutions, the faster on CPU;
      # 'flax': flax.linen Conv/ConvTranspose, the reference. Same
      # parameters, so checkpoints move between them.
      conv_impl="fast",
      # Initialiser of every conv and dense kernel: one of
      # models.KERNEL_INITS (flax's default 'lecun_normal', 'he_uniform',
      # 'he_normal', 'glorot_uniform', ...); docs/initialisation.md.
      kernel_init="lecun_normal",
  ))

  config.objective = ml_collections.ConfigDict(dict(
      # 'beta' (Higgins et al.), 'capacity' (Burgess et al.) or 'tcvae'
      # (Chen et al.; docs/objectives.md).
      name="beta",
      likelihood="bernoulli",  # 'bernoulli' or 'gaussian' (fixed std).
      gaussian_std=1.0,
      # Peak KL weight (tcvae: the TC's); beta_schedule shapes it over steps.
      beta=4.0,
      beta_schedule=schedules.schedule_config("constant"),
      # The capacity objective's knobs: gamma |KL - C|, C = max * schedule.
      capacity=ml_collections.ConfigDict(dict(
          gamma=1000.0,  # Weight of |KL - C|.
          max=25.0,  # Final C in nats.
          schedule=schedules.schedule_config(
              "linear", transition_steps=100_000),
      )),
      # tcvae's knobs besides beta (the TC's weight).
      tcvae=ml_collections.ConfigDict(dict(
          alpha=1.0,  # Weight of the index-code MI.
          gamma=1.0,  # Weight of the dimension-wise KL.
          # Minibatch estimator of q(z), 'mss' (stratified) or 'mws'.
          estimator="mss",
      )),
  ))

  # Unset lists take the single values above (objective.beta, seed, ...).
  # Members are the product betas x capacity_maxes x seeds.
  config.population = ml_collections.ConfigDict(dict(
      betas=config_dict.placeholder(tuple),
      capacity_maxes=config_dict.placeholder(tuple),
      seeds=config_dict.placeholder(tuple),
  ))

  config.optim = ml_collections.ConfigDict(dict(
      learning_rate=1e-4,
      lr_schedule=schedules.schedule_config("constant"),
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      grad_clip_norm=0.0,  # 0 turns clipping off.
  ))

  config.train = ml_collections.ConfigDict(dict(
      batch_size=64,
      num_train_steps=300_000,
      log_every_steps=500,
      eval_every_steps=10_000,  # 0 turns evaluation off.
      eval_batch_size=256,
      eval_num_examples=10_000,
      # Disentanglement metrics at eval steps (ground-truth datasets only),
      # at the published sizes. MIG encodes 10k images; FactorVAE and the
      # BetaVAE score encode ~1M, so add them on accelerators only.
      eval_metrics=("mig",),
      plot_every_steps=10_000,  # Figures to TensorBoard and plots/; 0: off.
      checkpoint_every_steps=5_000,
      max_checkpoints_to_keep=3,
      # Checkpoints at multiples of this step are never deleted (0: none),
      # for scoring a long run at chosen steps afterwards.
      keep_checkpoint_every_steps=0,
      start_fresh=False,  # True ignores checkpoints already in the workdir.
  ))
  return config
