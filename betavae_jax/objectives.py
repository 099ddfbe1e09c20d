"""The objectives: how a batch's loss terms are weighed for a member at a step.

`create_objective` reads the objective's config section once and returns a
pure function of (terms, stats, member, step), so the train step carries no
config and knows no objective's name. Adding an objective is its loss in
`losses.py`, its fields in `base_config.py` and one branch here.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from betavae_jax import losses
from betavae_jax import population as population_lib
from betavae_jax import schedules

NAMES = ("beta", "capacity", "tcvae")

# (terms, stats, member, step) -> (loss, aux): `terms` from
# `losses.batch_terms`, `stats` the model's posteriors and samples.
Objective = Callable[[dict, dict, population_lib.Members, jax.Array],
                     tuple[jax.Array, dict[str, Any]]]


def create_objective(config: ml_collections.ConfigDict,
                     dataset_size: int | None = None) -> Objective:
  """The objective named by `config.name` (the config's `objective`).

  Args:
    config: the objective section of a run's config.
    dataset_size: the number of training images, which tcvae's q(z)
      mixes over (a tcvae objective built without it raises when called);
      the other objectives ignore it.

  Raises:
    ValueError: an unknown name.
  """
  if config.name == "beta":
    return _beta(config)
  if config.name == "tcvae":
    return _tcvae(config, dataset_size)
  if config.name == "capacity":
    return _capacity(config)
  raise ValueError(f"objective.name must be one of {NAMES}; "
                   f"got {config.name!r}.")


def _beta(config: ml_collections.ConfigDict) -> Objective:
  """recon + beta(step) * KL (Higgins et al.)."""
  schedule = schedules.create_schedule(config.beta_schedule)

  def objective(terms, stats, member, step):
    del stats  # Unused.
    return losses.beta_vae_objective(terms, member.beta * schedule(step))
  return objective


def _tcvae(config: ml_collections.ConfigDict,
           dataset_size: int | None) -> Objective:
  """beta-TCVAE (Chen et al.): beta(step) weighs the total correlation.

  Without `dataset_size` the objective raises when a train step traces it,
  so code that only evaluates (the eval step) can still build the steps.
  """
  schedule = schedules.create_schedule(config.beta_schedule)
  alpha, gamma = config.tcvae.alpha, config.tcvae.gamma
  estimator = config.tcvae.estimator

  def objective(terms, stats, member, step):
    if dataset_size is None:
      raise ValueError("The tcvae objective needs dataset_size, the number "
                       "of training images.")
    z, mean, logvar = (stats[k].astype(jnp.float32)
                       for k in ("z", "mean", "logvar"))
    return losses.tcvae_objective(terms, z, mean, logvar, dataset_size,
                                  alpha, member.beta * schedule(step), gamma,
                                  estimator)
  return objective


def _capacity(config: ml_collections.ConfigDict) -> Objective:
  """recon + gamma |KL - C(step)| (Burgess et al.)."""
  schedule = schedules.create_schedule(config.capacity.schedule)
  gamma = config.capacity.gamma

  def objective(terms, stats, member, step):
    del stats  # Unused.
    return losses.capacity_objective(terms, gamma,
                                     member.capacity_max * schedule(step))
  return objective
