"""The step program: train state, optimiser, and the jitted population steps.

The step is written for one model and `jax.vmap`-ed over a population axis,
so P models with different beta / seed / C_max train in one compiled
program on the same batches. Randomness is step-indexed (`fold_in(key,
step)`), so a resumed run needs nothing beyond the state to match an
uninterrupted one. `make_steps` reads the config once and binds what it
builds (the objective, the learning-rate schedule, the likelihood) into
the steps, whose signatures then carry no config. The loop (`train.py`),
the benchmarks and the studies share this program.
"""

from collections.abc import Callable
import functools
from typing import Any

from flax.training import train_state
import jax
import jax.numpy as jnp
import ml_collections
import optax

from betavae_jax import compiler_options
from betavae_jax import encode_decode
from betavae_jax import losses
from betavae_jax import models
from betavae_jax import objectives
from betavae_jax import population as population_lib
from betavae_jax import schedules


class TrainState(train_state.TrainState):
  """Flax's TrainState plus the first non-finite step (-1 while all finite)."""

  nonfinite_step: jax.Array


def create_learning_rate_fn(config: ml_collections.ConfigDict):
  """The learning rate as base value times its schedule shape."""
  return schedules.scaled(schedules.create_schedule(config.optim.lr_schedule),
                          config.optim.learning_rate)


def create_optimizer(
    config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam (optionally after global-norm clipping) on the lr schedule."""
  opt = config.optim
  tx = optax.adam(create_learning_rate_fn(config), b1=opt.b1, b2=opt.b2,
                  eps=opt.eps)
  if opt.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx


def create_train_state(config: ml_collections.ConfigDict, model: models.BetaVAE,
                       image_shape: tuple[int, int, int],
                       key: jax.Array) -> TrainState:
  """One model's state; vmapped over member keys for a population."""
  params = models.init_params(model, image_shape, key)
  return TrainState.create(apply_fn=model.apply, params=params,
                           tx=create_optimizer(config),
                           nonfinite_step=jnp.array(-1, jnp.int32))


def create_population_state(config: ml_collections.ConfigDict,
                            model: models.BetaVAE,
                            image_shape: tuple[int, int, int],
                            members: population_lib.Members) -> TrainState:
  """The population's state: every leaf has a leading member axis."""
  init_keys = jax.vmap(lambda s: population_lib.member_keys(s)[0])(
      members.seed)
  create = functools.partial(create_train_state, config, model, image_shape)
  return jax.jit(jax.vmap(create))(init_keys)


def _loss_fn(params, x: jax.Array, key: jax.Array,
             member: population_lib.Members, step: jax.Array, *,
             apply_fn: Callable, objective: objectives.Objective,
             batch_terms: Callable):
  recon, stats = apply_fn({"params": params}, x, train=True,
                          rngs={"latent": key})
  terms = batch_terms(recon, x, stats["mean"], stats["logvar"])
  return objective(terms, stats, member, step)


def train_step(
    state: TrainState, images: jax.Array, member: population_lib.Members, *,
    objective: objectives.Objective, learning_rate_fn: optax.Schedule,
    batch_terms: Callable, pixel_max: int, in_turn: bool = False
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimisation step of one model.

  A non-finite loss or gradient leaves parameters and optimiser state as they
  were and records the step in `nonfinite_step`; the loop raises at its next
  host check, so the last good state is what gets checkpointed.

  With `in_turn`, a population on one CPU device computes its members'
  gradients one after another (`population.in_turn_on_cpu`) and updates
  them all at once: the optimiser is elementwise and batches well, and
  carrying only parameters and gradients through the loop, not the
  optimiser state, makes the population faster (docs/performance.md).
  """
  x = encode_decode.to_float(images, pixel_max)
  key = jax.random.fold_in(population_lib.member_keys(member.seed)[1],
                           state.step)
  gradients = functools.partial(jax.value_and_grad(_loss_fn, has_aux=True),
                                apply_fn=state.apply_fn, objective=objective,
                                batch_terms=batch_terms)
  if in_turn:
    gradients = population_lib.in_turn_on_cpu(gradients)
  (loss, aux), grads = gradients(state.params, x, key, member, state.step)
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updated = state.apply_gradients(grads=grads)
  keep = lambda new, old: jnp.where(finite, new, old)
  new_state = updated.replace(
      params=jax.tree.map(keep, updated.params, state.params),
      opt_state=jax.tree.map(keep, updated.opt_state, state.opt_state),
      nonfinite_step=jnp.where((state.nonfinite_step < 0) & ~finite,
                               state.step, state.nonfinite_step))
  metrics = dict(aux, loss=loss, grad_norm=grad_norm,
                 lr=learning_rate_fn(state.step),
                 active_latents=jnp.sum(
                     aux["kl_per_dim"] > losses.ACTIVE_KL_NATS))
  return new_state, metrics


def eval_step(params: Any, images: jax.Array,
              member: population_lib.Members, *, apply_fn: Callable,
              batch_terms: Callable, pixel_max: int) -> dict[str, jax.Array]:
  """Negative ELBO terms with the member's fixed eval key, summed over the
  batch, plus the reconstruction term of the posterior mean."""
  x = encode_decode.to_float(images, pixel_max)
  key = population_lib.member_keys(member.seed)[2]
  variables = {"params": params}
  recon, stats = apply_fn(variables, x, train=True, rngs={"latent": key})
  terms = batch_terms(recon, x, stats["mean"], stats["logvar"])
  mean_recon, _ = apply_fn(variables, x, train=False)
  mean_terms = batch_terms(mean_recon, x, stats["mean"], stats["logvar"])
  n = x.shape[0]
  return {"recon": terms["recon"] * n, "kl": terms["kl"] * n,
          "kl_per_dim": terms["kl_per_dim"] * n,
          "recon_posterior_mean": mean_terms["recon"] * n,
          "count": jnp.asarray(n, jnp.float32)}


def population_steps(config: ml_collections.ConfigDict,
                     model: models.BetaVAE, pixel_max: int,
                     dataset_size: int | None = None):
  """The train and eval steps vmapped over members, not yet jitted.

  The eval step takes the population's parameters, not a train state, so
  anything holding parameters (a loaded run) can evaluate them.
  `make_steps` jits them; experiments that compile the same program under
  other XLA options (`benchmarks.xla_options`) jit them their way.
  """
  obj = config.objective
  batch_terms = functools.partial(losses.batch_terms, obj.likelihood,
                                  gaussian_std=obj.gaussian_std)
  in_turn = population_lib.runs_in_turn(config.model)
  train = functools.partial(
      train_step, objective=objectives.create_objective(obj, dataset_size),
      learning_rate_fn=create_learning_rate_fn(config),
      batch_terms=batch_terms, pixel_max=pixel_max, in_turn=in_turn)
  eval_ = functools.partial(eval_step, apply_fn=model.apply,
                            batch_terms=batch_terms, pixel_max=pixel_max)
  if in_turn:  # No optimiser to batch: the whole eval step loops.
    eval_ = population_lib.in_turn_on_cpu(eval_)
  return tuple(jax.vmap(f, in_axes=(0, None, 0)) for f in (train, eval_))


def make_steps(config: ml_collections.ConfigDict, model: models.BetaVAE,
               pixel_max: int, state_sharding: Any = None,
               batch_sharding: Any = None, dataset_size: int | None = None):
  """The population-vmapped, jitted train and eval steps.

  `train(state, images, members) -> (state, metrics)` and
  `eval(params, images, members) -> summed ELBO terms`. With shardings
  (see `sharding.py`) the same program runs data parallel or with members
  spread across devices; without, XLA places it on one device.
  `dataset_size` (the training images) is needed by the tcvae objective.
  """
  p_train, p_eval = population_steps(config, model, pixel_max, dataset_size)
  if state_sharding is None:
    return (compiler_options.jit(p_train, donate_argnums=0),
            compiler_options.jit(p_eval))
  ins = (state_sharding, batch_sharding, state_sharding)
  return (compiler_options.jit(p_train, in_shardings=ins,
                               out_shardings=(state_sharding, state_sharding),
                               donate_argnums=0),
          compiler_options.jit(p_eval, in_shardings=ins,
                               out_shardings=state_sharding))


def eval_elbo(p_eval, params: Any, members: population_lib.Members,
              batches) -> list[dict]:
  """Per-member ELBO terms averaged over the evaluation batches."""
  totals = None
  for images in batches:
    out = p_eval(params, images, members)
    totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
  totals = jax.device_get(totals)
  results = []
  for i in range(len(totals["count"])):
    n = totals["count"][i]
    r = {k: v[i] / n for k, v in totals.items() if k != "count"}
    r["elbo"] = -(r["recon"] + r["kl"])
    results.append(r)
  return results
