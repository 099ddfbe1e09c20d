"""Checks a config before anything is compiled or written.

Each failure is one line naming the field, its value and what is allowed;
`main` turns it into exit status 2.
"""

import jax
import ml_collections

from betavae_jax import kl_decomposition
from betavae_jax import losses
from betavae_jax import metric_names
from betavae_jax import models
from betavae_jax import schedules


class ConfigError(ValueError):
  """A config value that cannot work; the message names the field."""


def _require(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f"config.{field}={value!r} is invalid: {allowed}.")


def _check_schedule(field: str, config: ml_collections.ConfigDict) -> None:
  _require(config.name in schedules.SCHEDULES, f"{field}.name", config.name,
           f"must be one of {schedules.SCHEDULES}")


def _check_population(config: ml_collections.ConfigDict) -> None:
  pop = config.population
  for field in ("betas", "seeds", "capacity_max"):
    values = pop[field]
    _require(values is None or len(values) >= 1, f"population.{field}",
             values, "must be unset or a non-empty tuple")
  for beta in pop.betas or ():
    _require(beta >= 0, "population.betas", tuple(pop.betas),
             "every beta must be >= 0")
  for cap in pop.capacity_max or ():
    _require(cap >= 0, "population.capacity_max", tuple(pop.capacity_max),
             "every C_max must be >= 0")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for the first invalid field."""
  obj, model, train = config.objective, config.model, config.train
  _require(obj.name in losses.OBJECTIVES, "objective.name", obj.name,
           f"must be one of {losses.OBJECTIVES}")
  _require(obj.likelihood in losses.LIKELIHOODS, "objective.likelihood",
           obj.likelihood, f"must be one of {losses.LIKELIHOODS}")
  _require(obj.beta >= 0, "objective.beta", obj.beta, "must be >= 0")
  _require(obj.gamma >= 0, "objective.gamma", obj.gamma, "must be >= 0")
  _require(obj.capacity_max >= 0, "objective.capacity_max", obj.capacity_max,
           "must be >= 0")
  _require(obj.gaussian_std > 0, "objective.gaussian_std", obj.gaussian_std,
           "must be > 0")
  for field in ("tcvae_alpha", "tcvae_gamma"):
    _require(obj[field] >= 0, f"objective.{field}", obj[field],
             "must be >= 0")
  _require(obj.tcvae_estimator in kl_decomposition.ESTIMATORS,
           "objective.tcvae_estimator", obj.tcvae_estimator,
           f"must be one of {kl_decomposition.ESTIMATORS}")
  _require(obj.name != "tcvae" or train.batch_size >= 2, "train.batch_size",
           train.batch_size, "the tcvae objective needs >= 2 (its q(z) "
           "mixes over the batch)")
  _check_schedule("objective.beta_schedule", obj.beta_schedule)
  _check_schedule("objective.capacity_schedule", obj.capacity_schedule)
  _check_schedule("optim.lr_schedule", config.optim.lr_schedule)
  _require(model.name in models.ARCHITECTURES, "model.name", model.name,
           f"must be one of {models.ARCHITECTURES}")
  _require(model.conv_impl in models.CONV_IMPLS, "model.conv_impl",
           model.conv_impl, f"must be one of {models.CONV_IMPLS}")
  _require(model.latent_dim >= 1, "model.latent_dim", model.latent_dim,
           "must be >= 1")
  _require(model.dtype in ("float32", "bfloat16"), "model.dtype", model.dtype,
           "must be 'float32' or 'bfloat16'")
  _require(config.optim.learning_rate > 0, "optim.learning_rate",
           config.optim.learning_rate, "must be > 0")
  _require(train.batch_size >= 1, "train.batch_size", train.batch_size,
           "must be >= 1")
  devices = jax.device_count()
  _require(train.batch_size % devices == 0, "train.batch_size",
           train.batch_size, f"must be divisible by the {devices} devices")
  for field in ("num_train_steps", "log_every_steps",
                "checkpoint_every_steps", "eval_batch_size"):
    _require(train[field] >= 1, f"train.{field}", train[field], "must be >= 1")
  _require(train.max_checkpoints_to_keep >= 1,
           "train.max_checkpoints_to_keep", train.max_checkpoints_to_keep,
           "must be >= 1 (a run that keeps none cannot resume)")
  _require(train.keep_checkpoint_every_steps >= 0,
           "train.keep_checkpoint_every_steps",
           train.keep_checkpoint_every_steps, "must be >= 0 (0: keep none)")
  _require(train.eval_every_steps >= 0, "train.eval_every_steps",
           train.eval_every_steps, "must be >= 0 (0 turns evaluation off)")
  _check_population(config)
  known = metric_names.METRICS
  _require(set(train.eval_metrics) <= set(known), "train.eval_metrics",
           tuple(train.eval_metrics), f"each must be one of {known}")


def validate_image_shape(config: ml_collections.ConfigDict,
                         image_shape: tuple[int, int, int]) -> None:
  """The conv stack needs room for its strides; channels must be 1 or 3."""
  height, width, channels = image_shape
  _require(channels in (1, 3), "data", f"{config.data.name} {image_shape}",
           "images must have 1 or 3 channels")
  if config.model.name == "conv":
    smallest = 2**len(config.model.conv_channels)
    _require(min(height, width) >= smallest // 2, "model.conv_channels",
             tuple(config.model.conv_channels),
             f"{len(config.model.conv_channels)} stride-2 layers need images "
             f"of at least {smallest // 2} pixels; got {height}x{width}")
