"""Trained reference models that ship with the package, loaded offline.

  model, params, config = pretrained.load("beta16")
  mean, logvar = model.apply({"params": params}, images, method=model.encode)

Each model is one member of a run of the reproduction study
(experiments/reproduction/), kept as its parameters only (float32) with
the run's config narrowed to that member and a few facts about it (the
step it was taken at, the data version it trained on). Parameters are a
plain `.npz`, not an Orbax checkpoint: no optimiser state to carry, a few
MB per model, and readable with numpy alone.
"""

from collections.abc import Mapping
import importlib.resources
import json
import os
import pathlib
from typing import Any, NamedTuple

from flax import traverse_util
import jax
import ml_collections
import numpy as np
from scipy import stats

from betavae_jax import config_json
from betavae_jax import models

PARAMS_FILE = "params.npz"
INFO_FILE = "info.json"
# The scores that rank the shipped models: the BetaVAE, FactorVAE and MIG
# metrics of the three papers that defined them, the three the README's
# results table shows, so a reader can check the ranking there.
RANKING_SCORES = ("beta_vae.eval_accuracy", "factor_vae.eval_accuracy",
                  "mig.mig")


class Pretrained(NamedTuple):
  """A shipped model: the linen module, its parameters and its config."""

  model: models.BetaVAE
  params: Any
  config: ml_collections.ConfigDict


class UnknownModelError(KeyError):
  """No shipped model of that name; the message lists the known ones."""

  def __str__(self) -> str:
    return str(self.args[0])  # KeyError would quote the message.


def models_dir() -> pathlib.Path:
  """Where the package's shipped models live."""
  return pathlib.Path(str(importlib.resources.files("betavae_jax"))) / (
      "pretrained_models")


def available(directory: str | os.PathLike | None = None) -> tuple[str, ...]:
  """The names of the shipped models (or of those in `directory`)."""
  root = pathlib.Path(directory) if directory else models_dir()
  if not root.is_dir():
    return ()
  return tuple(sorted(p.name for p in root.iterdir()
                      if (p / PARAMS_FILE).is_file()))


def _model_dir(name: str, directory: str | os.PathLike | None
               ) -> pathlib.Path:
  """The folder of model `name`; a clear error naming the known ones."""
  names = available(directory)
  if name not in names:
    raise UnknownModelError(f"No shipped model named {name!r}; available: "
                   f"{', '.join(names) or 'none'}.")
  return (pathlib.Path(directory) if directory else models_dir()) / name


def info(name: str, directory: str | os.PathLike | None = None) -> dict:
  """What is recorded about a model: step, member, data version, scores."""
  with open(_model_dir(name, directory) / INFO_FILE) as f:
    return json.load(f)


def rank_by_disentanglement(scores: Mapping[str, Mapping[str, float]]
                            ) -> list[tuple[str, float]]:
  """(name, mean rank) of each model, most disentangled first.

  No single score decides it (the metrics disagree, Locatello et al.
  2019), so each model is ranked by each of `RANKING_SCORES` (1 = best,
  ties share their mean rank) and ordered by its mean rank; a tie goes to
  the name that sorts first.

  Args:
    scores: {model name: {flat score key: value}}, with every key of
      `RANKING_SCORES`.
  """
  names = sorted(scores)
  if not names:
    return []
  table = np.array([[scores[n][s] for s in RANKING_SCORES] for n in names])
  mean_rank = stats.rankdata(-table, axis=0).mean(axis=1)
  return sorted(zip(names, mean_rank.tolist()), key=lambda p: (p[1], p[0]))


def by_disentanglement(directory: str | os.PathLike | None = None
                       ) -> tuple[str, ...]:
  """The shipped models, most disentangled first (`rank_by_disentanglement`
  on their recorded scores): the first is the model the README and the
  notebook open with."""
  ranked = rank_by_disentanglement(
      {n: info(n, directory)["scores"] for n in available(directory)})
  return tuple(name for name, _ in ranked)


def load(name: str, directory: str | os.PathLike | None = None) -> Pretrained:
  """Loads a shipped model by name, offline.

  Args:
    name: one of `available()`, e.g. 'beta16'.
    directory: a folder of models exported with `export` (default: the
      package's own).

  Returns:
    (model, params, config): `model.apply({"params": params}, x)` runs it;
    images are floats in [0, 1] of `info(name)["image_shape"]`.

  Raises:
    UnknownModelError: no model of that name (a KeyError; the message
      lists the known ones).
  """
  folder = _model_dir(name, directory)
  config = config_json.read(folder / config_json.CONFIG_FILE)
  image_shape = tuple(info(name, directory)["image_shape"])
  model = models.create_model(config.model, image_shape)
  with np.load(folder / PARAMS_FILE, allow_pickle=False) as arrays:
    flat = {tuple(k.split("/")): np.asarray(arrays[k]) for k in arrays.files}
  params = jax.tree.map(jax.numpy.asarray,
                        traverse_util.unflatten_dict(flat))
  return Pretrained(model=model, params=params, config=config)


def export(params: Any, config: ml_collections.ConfigDict,
           image_shape: tuple[int, int, int], directory: str | os.PathLike,
           facts: Mapping[str, Any]) -> pathlib.Path:
  """Writes one model's parameters, config and facts for `load`.

  Args:
    params: one member's parameters (no population axis).
    config: the config to record, narrowed to this member.
    image_shape: (H, W, C) of the images the model takes.
    directory: the model's folder (its name is the model's name).
    facts: recorded in info.json beside the image shape and parameter count
      (e.g. step, member, data version).

  Returns:
    The folder written.
  """
  folder = pathlib.Path(directory)
  folder.mkdir(parents=True, exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
  np.savez(folder / PARAMS_FILE,
           **{k: np.asarray(v, np.float32) for k, v in flat.items()})
  with open(folder / config_json.CONFIG_FILE, "w") as f:
    json.dump(config.to_dict(), f, indent=1, default=str)
  count = int(sum(np.size(v) for v in flat.values()))
  with open(folder / INFO_FILE, "w") as f:
    json.dump(dict(facts, image_shape=list(image_shape), parameters=count),
              f, indent=1)
  return folder
