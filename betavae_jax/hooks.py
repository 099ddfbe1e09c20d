"""Periodic hooks: all the train loop runs besides training itself.

A `Hook` is an action with a period in steps (clu's periodic actions,
big_vision's evaluators). The loop calls each due hook with the step and
the population's parameters; a hook returns per-member metrics, logged
under its prefix ('eval/' unless it says otherwise), or None. The ELBO on
held-out and training images, the disentanglement metrics, the latent
statistics and the figures reach the loop only this way, so the loop
imports neither the metric suite (scikit-learn, SciPy) nor matplotlib:
`default_hooks` imports them when a run builds its hooks, and a run that
does not use them never loads them.
"""

from collections.abc import Callable, Sequence
import dataclasses
import functools
import os
from typing import Any

import jax
import ml_collections

from betavae_jax import input_pipeline
from betavae_jax import metric_writer

PLOT_IMAGES = 64  # Fixed images the figures encode, the same at every step.


@dataclasses.dataclass(frozen=True)
class Hook:
  """`run(step, params)` every `every_steps` steps (0: never) and at the end.

  `params` has a leading member axis; `run` returns one metrics dict per
  member, or None.
  """

  every_steps: int
  run: Callable[[int, Any], list[dict] | None]
  prefix: str = "eval"  # Of the metric keys its results are logged under.


@dataclasses.dataclass(frozen=True)
class RunContext:
  """What hooks see of a run when it starts.

  `encode` and `decode` are the jitted population functions of
  `encode_decode.jitted_population`, taking the parameters first; `elbo`
  gives each member's ELBO terms on a split ('eval' or 'train') of the
  config's evaluation size (`steps.eval_elbo`).
  """

  config: ml_collections.ConfigDict
  workdir: str
  dataset: input_pipeline.Dataset
  names: tuple[str, ...]
  writer: metric_writer.MetricWriter
  encode: Callable[..., Any]
  decode: Callable[..., Any]
  elbo: Callable[[Any, str], list[dict]] | None = None


HookFactory = Callable[[RunContext], Sequence[Hook]]


def elbo_hook(context: RunContext, split: str = "eval") -> Hook:
  """The ELBO's terms on a split at every evaluation: held-out images under
  'eval/', training images (to compare seen with unseen) under
  'eval_train/'."""
  def run(step: int, params: Any) -> list[dict]:
    del step
    return context.elbo(params, split)
  return Hook(context.config.train.eval_every_steps, run,
              prefix="eval" if split == "eval" else f"eval_{split}")


def disentanglement_hook(context: RunContext) -> Hook:
  """config.train.eval_metrics at every evaluation, as flat scores."""
  # pylint: disable-next=g-import-not-at-top
  from betavae_jax.evaluation import suite
  config = context.config

  def run(step: int, params: Any) -> list[dict]:
    del step
    return suite.disentanglement_scalars(
        context.dataset.ground_truth, functools.partial(context.encode, params),
        jax.random.key(config.seed), config.train.eval_metrics)
  return Hook(config.train.eval_every_steps, run)


def latent_hook(context: RunContext) -> Hook:
  """MI, TC, dim-KL and active units on fixed held-out images at every eval."""
  # pylint: disable-next=g-import-not-at-top
  from betavae_jax.evaluation import suite
  config = context.config
  images, _ = suite.split_images(context.dataset,
                                 config.train.eval_num_examples)

  def run(step: int, params: Any) -> list[dict]:
    del step
    return suite.latent_scalars(functools.partial(context.encode, params),
                                images, jax.random.key(config.seed))
  return Hook(config.train.eval_every_steps, run)


def figure_hook(context: RunContext) -> Hook:
  """The fixed figures to TensorBoard and workdir/plots/<step>."""
  # pylint: disable=g-import-not-at-top
  from betavae_jax.plotting import arrays
  from betavae_jax.plotting import figures
  from betavae_jax.plotting import files
  # pylint: enable=g-import-not-at-top
  config, dataset = context.config, context.dataset
  images = arrays.fixed_images(dataset, PLOT_IMAGES)

  def run(step: int, params: Any) -> None:
    pictures = figures.figures(
        functools.partial(context.encode, params),
        functools.partial(context.decode, params), images, context.names,
        likelihood=config.objective.likelihood, pixel_max=dataset.pixel_max,
        ground_truth=dataset.ground_truth, step=step)
    context.writer.write_images(
        step, {f"plots/{k}": v for k, v in pictures.items()})
    if jax.process_index() == 0:
      files.save(os.path.join(context.workdir, "plots", str(step)), pictures)
  return Hook(config.train.plot_every_steps, run)


def default_hooks(context: RunContext) -> list[Hook]:
  """The trainer's hooks, in the order they run.

  The held-out ELBO and the latent statistics at every evaluation,
  disentanglement scores where the config asks for them and the data has
  ground-truth factors, the figures where plotting is on, and the ELBO on
  training images where some are held out.
  """
  train = context.config.train
  hooks = []
  if train.eval_every_steps > 0:
    hooks.append(elbo_hook(context))
  if (train.eval_every_steps > 0 and train.eval_metrics
      and context.dataset.ground_truth is not None):
    hooks.append(disentanglement_hook(context))
  if train.eval_every_steps > 0:
    hooks.append(latent_hook(context))
  if train.plot_every_steps > 0:
    hooks.append(figure_hook(context))
  if train.eval_every_steps > 0 and len(context.dataset.eval_indices):
    hooks.append(elbo_hook(context, "train"))
  return hooks
