"""Checks a config before anything is compiled or written.

Each failure is one line naming the field, its value and what is allowed;
`main` turns it into exit status 2. Every field of `base_config` is checked
for presence and type (a bare `--config.population.betas=abc` arrives as the
tuple ('abc',)), and no unknown field may appear: a field misspelt in a
config file would otherwise be silently ignored.
"""

from typing import Any

import jax
import ml_collections

from betavae_jax import base_config
from betavae_jax import kl_decomposition
from betavae_jax import losses
from betavae_jax import metric_names
from betavae_jax import models
from betavae_jax import objectives
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
  for field in ("betas", "seeds", "capacity_maxes"):
    values = pop[field]
    _require(values is None or len(values) >= 1, f"population.{field}",
             values, "must be unset or a non-empty tuple")
  for beta in pop.betas or ():
    _require(beta >= 0, "population.betas", tuple(pop.betas),
             "every beta must be >= 0")
  for cap in pop.capacity_maxes or ():
    _require(cap >= 0, "population.capacity_maxes", tuple(pop.capacity_maxes),
             "every C_max must be >= 0")


# Element types of tuple fields whose default gives none to copy (None or
# an empty tuple); keyed by the field's last name.
_ELEMENT_TYPES = {"betas": float, "capacity_maxes": float, "seeds": int,
                  "boundaries": int, "scales": float, "eval_metrics": str}


def _type_ok(value: Any, like: type) -> bool:
  """Python's bool is an int; a float field takes ints (JSON writes 1.0 as 1
  in no case, but configs write `learning_rate = 1`)."""
  if like is bool:
    return isinstance(value, bool)
  if like is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  return isinstance(value, like) and not (
      like is int and isinstance(value, bool))


def _check_leaf(field: str, value: Any, default: Any, like: type) -> None:
  """One field against its base_config default (type `like`)."""
  if value is None and default is None:  # An unset placeholder.
    return
  if like is not tuple:
    _require(_type_ok(value, like), field, value, f"must be a {like.__name__}")
    return
  _require(isinstance(value, (tuple, list)), field, value, "must be a tuple")
  element = (type(default[0]) if default else
             _ELEMENT_TYPES.get(field.rsplit(".", 1)[-1]))
  if element is not None:
    _require(all(_type_ok(v, element) for v in value), field, value,
             f"every element must be a {element.__name__}")


def check_fields(config: ml_collections.ConfigDict,
                 base: ml_collections.ConfigDict | None = None,
                 prefix: str = "") -> None:
  """Every base_config field present with its type; no unknown field."""
  base = base_config.base_config() if base is None else base
  for key in config.keys():
    _require(key in base, f"{prefix}{key}", config[key],
             "is not a known field (see betavae_jax/base_config.py)")
  for key in base.keys():
    field = f"{prefix}{key}"
    _require(key in config, field, None, "is missing")
    if isinstance(base[key], ml_collections.ConfigDict):
      _require(isinstance(config[key], ml_collections.ConfigDict), field,
               config[key], "must be a section")
      check_fields(config[key], base[key], f"{field}.")
    else:
      _check_leaf(field, config[key], base[key], base.get_type(key))


def _check_sizes(config: ml_collections.ConfigDict) -> None:
  """Layer sizes, seeds and optimiser constants a run cannot work with."""
  model, optim, data = config.model, config.optim, config.data
  for field in ("conv_channels", "dense_sizes", "encoder_hidden",
                "decoder_hidden"):
    _require(all(v >= 1 for v in model[field]), f"model.{field}",
             tuple(model[field]), "every size must be >= 1")
  _require(model.kernel_size >= 1, "model.kernel_size", model.kernel_size,
           "must be >= 1")
  for field, value in (("seed", config.seed), ("data.seed", data.seed),
                       ("data.split_seed", data.split_seed)):
    _require(value >= 0, field, value, "must be >= 0")
  _require(all(s >= 0 for s in config.population.seeds or ()),
           "population.seeds", config.population.seeds,
           "every seed must be >= 0")
  for field in ("b1", "b2"):
    _require(0 <= optim[field] < 1, f"optim.{field}", optim[field],
             "must lie in [0, 1)")
  _require(optim.eps >= 0, "optim.eps", optim.eps, "must be >= 0")
  _require(optim.grad_clip_norm >= 0, "optim.grad_clip_norm",
           optim.grad_clip_norm, "must be >= 0 (0 turns clipping off)")
  _require(config.train.eval_num_examples >= 1, "train.eval_num_examples",
           config.train.eval_num_examples, "must be >= 1")
  _require(config.train.plot_every_steps >= 0, "train.plot_every_steps",
           config.train.plot_every_steps, "must be >= 0 (0 turns plots off)")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for the first invalid field."""
  check_fields(config)
  _check_sizes(config)
  obj, model, train = config.objective, config.model, config.train
  _require(obj.name in objectives.NAMES, "objective.name", obj.name,
           f"must be one of {objectives.NAMES}")
  _require(obj.likelihood in losses.LIKELIHOODS, "objective.likelihood",
           obj.likelihood, f"must be one of {losses.LIKELIHOODS}")
  _require(obj.beta >= 0, "objective.beta", obj.beta, "must be >= 0")
  for field in ("capacity.gamma", "capacity.max", "tcvae.alpha",
                "tcvae.gamma"):
    section, name = field.split(".")
    _require(obj[section][name] >= 0, f"objective.{field}",
             obj[section][name], "must be >= 0")
  _require(obj.gaussian_std > 0, "objective.gaussian_std", obj.gaussian_std,
           "must be > 0")
  _require(obj.tcvae.estimator in kl_decomposition.ESTIMATORS,
           "objective.tcvae.estimator", obj.tcvae.estimator,
           f"must be one of {kl_decomposition.ESTIMATORS}")
  _require(obj.name != "tcvae" or train.batch_size >= 2, "train.batch_size",
           train.batch_size, "the tcvae objective needs >= 2 (its q(z) "
           "mixes over the batch)")
  _check_schedule("objective.beta_schedule", obj.beta_schedule)
  _check_schedule("objective.capacity.schedule", obj.capacity.schedule)
  _check_schedule("optim.lr_schedule", config.optim.lr_schedule)
  _require(model.name in models.ARCHITECTURES, "model.name", model.name,
           f"must be one of {models.ARCHITECTURES}")
  _require(model.conv_impl in models.CONV_IMPLS, "model.conv_impl",
           model.conv_impl, f"must be one of {models.CONV_IMPLS}")
  _require(model.kernel_init in models.KERNEL_INITS, "model.kernel_init",
           model.kernel_init, f"must be one of {tuple(models.KERNEL_INITS)}")
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
