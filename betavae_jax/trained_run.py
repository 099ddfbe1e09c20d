"""A finished or running training run, loaded back from its workdir.

The evaluate and visualize CLIs need the same things: the run's config, its
dataset, the model, the population and the parameters of a checkpoint. This
module rebuilds them from `config.json` and Orbax, and offers the jitted,
population-vmapped encode and decode functions that metrics and plots use.
"""

import dataclasses
import functools
import os
from typing import Any, Callable

from absl import logging
import jax
import ml_collections
import numpy as np

from betavae_jax import checkpointing
from betavae_jax import config_json
from betavae_jax import encode_decode
from betavae_jax import input_pipeline
from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import pretrained


@dataclasses.dataclass
class TrainedRun:
  """Everything needed to evaluate or draw a run's population."""

  workdir: str
  config: ml_collections.ConfigDict
  dataset: Any  # input_pipeline.Dataset
  model: models.BetaVAE
  population: population_lib.Population
  params: Any  # Leading member axis on every leaf.
  step: int

  @property
  def pixel_max(self) -> int:
    return self.dataset.pixel_max

  def jitted_population(self):
    """The jitted, member-vmapped encode and decode (`encode_decode.py`)."""
    return encode_decode.jitted_population(
        self.model, self.pixel_max,
        in_turn=population_lib.runs_in_turn(self.config.model))

  def encode_fn(self) -> Callable[[np.ndarray], tuple[jax.Array, jax.Array]]:
    """uint8 images (N,H,W,C) -> (mean, logvar), each (P, N, D)."""
    encode, _ = self.jitted_population()
    return functools.partial(encode, self.params)

  def decode_fn(self) -> Callable[[jax.Array], jax.Array]:
    """Latents (P, N, D) -> decoder outputs (P, N, H, W, C), per member."""
    _, decode = self.jitted_population()
    return functools.partial(decode, self.params)


class RunError(ValueError):
  """The directory holds no run to load."""


# What `load` raises for a workdir it cannot use; the CLIs print one line.
LOAD_ERRORS = (RunError, checkpointing.CheckpointError,
               input_pipeline.DataError, pretrained.UnknownModelError)


def _read_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's config.json, or a one-line RunError saying what is missing."""
  if not os.path.isdir(workdir):
    raise RunError(f"No run directory {workdir!r}.")
  path = os.path.join(workdir, config_json.CONFIG_FILE)
  try:
    return config_json.read(path)
  except FileNotFoundError as e:
    raise RunError(f"{workdir!r} holds no run: it has no config.json (the "
                   "trainer writes one when a run starts).") from e
  except ValueError as e:  # Not JSON.
    raise RunError(f"{path} is unreadable: {e}") from e


def load(workdir: str, step: int | None = None,
         in_memory: bool | None = None) -> TrainedRun:
  """Loads a run's config and the parameters of `step` (default: newest).

  `in_memory` overrides the run's config.data.in_memory: plots read a few
  images, where holding all of dSprites would add seconds of loading; the
  metric suite
  reads most of them, where holding costs about what it saves on a CPU.

  Reads only, beside a live run too: it takes no lock and creates nothing.
  Without `step` an unreadable newest checkpoint is skipped with a warning,
  as the trainer does.

  Raises:
    RunError: no such workdir, or no config.json in it.
    checkpointing.CheckpointError: no readable checkpoint (or not `step`).
  """
  config = _read_config(workdir)
  data_config = config.data.copy_and_resolve_references()
  if in_memory is not None:
    data_config.in_memory = in_memory
  dataset = input_pipeline.load_dataset(data_config)
  model = models.create_model(config.model, dataset.image_shape)
  pop = population_lib.from_config(config)
  like = _abstract_params(model, dataset.image_shape, pop.size)
  found, params = checkpointing.restore_params(workdir, like, step)
  return TrainedRun(workdir=workdir, config=config, dataset=dataset,
                    model=model, population=pop, params=params, step=found)


def from_pretrained(name: str, workdir: str, in_memory: bool | None = None,
                    rendered: bool = False) -> TrainedRun:
  """A shipped model (`pretrained.load`) as a one-member run.

  The evaluate and visualize CLIs then treat it as any run; `workdir` is
  only where they write (scores, figures), and nothing is read from it.
  With `rendered`, images come from the offline renderer on demand
  (`input_pipeline.rendered_dsprites`) instead of a prepared dataset, so
  pictures need no preparing; the split is the model's own.

  Raises:
    pretrained.UnknownModelError: no shipped model of that name.
  """
  model, params, config = pretrained.load(name)
  facts = pretrained.info(name)
  data_config = config.data.copy_and_resolve_references()
  if in_memory is not None:
    data_config.in_memory = in_memory
  dataset = (input_pipeline.rendered_dsprites(data_config) if rendered
             else input_pipeline.load_dataset(data_config))
  if dataset.version != facts.get("data_version", dataset.version):
    logging.warning("%s was trained on %s; this data is %s.", name,
                    facts["data_version"], dataset.version)
  return TrainedRun(workdir=workdir, config=config, dataset=dataset,
                    model=model, population=population_lib.from_config(config),
                    params=jax.tree.map(lambda a: a[None], params),
                    step=int(facts["step"]))


def _abstract_params(model: models.BetaVAE, image_shape: tuple[int, int, int],
                     size: int) -> Any:
  """Shapes of the population's parameters, without computing them."""
  keys = jax.random.split(jax.random.key(0), size)
  return jax.eval_shape(
      jax.vmap(functools.partial(models.init_params, model, image_shape)),
      keys)
