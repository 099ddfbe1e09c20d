"""Populations: P models with different beta, seed or C_max trained together.

A population is the product of the config's per-member value lists. Each
member's hyperparameters become arrays with a leading population axis, which
the train step is vmapped over, so a beta sweep is one compiled program.
"""

from collections.abc import Callable
import dataclasses
import itertools

import flax
import jax
from jax import lax
import jax.numpy as jnp
import ml_collections

from betavae_jax import models


@flax.struct.dataclass
class Members:
  """Per-member hyperparameters; every field has a leading population axis."""

  beta: jax.Array  # KL weight of the beta objective (peak of its schedule).
  capacity_max: jax.Array  # C_max of the capacity objective, in nats.
  seed: jax.Array  # Seed of the member's initialisation and latent noise.


@dataclasses.dataclass(frozen=True)
class Population:
  """The members of a run, in a fixed order, with their names."""

  betas: tuple[float, ...]
  capacity_maxes: tuple[float, ...]
  seeds: tuple[int, ...]

  @property
  def size(self) -> int:
    return len(self.seeds)

  @property
  def names(self) -> tuple[str, ...]:
    """Names for logs and plots, e.g. 'beta=4,seed=0' (single run: '')."""
    if self.size == 1:
      return ("",)
    varying = [("beta", self.betas), ("C", self.capacity_maxes),
               ("seed", self.seeds)]
    varying = [(k, v) for k, v in varying if len(set(v)) > 1] or varying[-1:]
    return tuple(",".join(f"{k}={_fmt(v[i])}" for k, v in varying)
                 for i in range(self.size))

  def members(self) -> Members:
    return Members(beta=jnp.asarray(self.betas, jnp.float32),
                   capacity_max=jnp.asarray(self.capacity_maxes, jnp.float32),
                   seed=jnp.asarray(self.seeds, jnp.uint32))

  def to_dict(self) -> dict:
    return {"betas": list(self.betas), "capacity_maxes":
            list(self.capacity_maxes), "seeds": list(self.seeds),
            "names": list(self.names)}


def _fmt(value: float) -> str:
  return f"{value:g}"


def from_config(config: ml_collections.ConfigDict) -> Population:
  """The product betas x capacity_maxes x seeds; unset lists take the
  scalars."""
  pop = config.population
  betas = pop.betas if pop.betas is not None else (config.objective.beta,)
  caps = (pop.capacity_maxes if pop.capacity_maxes is not None else
          (config.objective.capacity.max,))
  seeds = pop.seeds if pop.seeds is not None else (config.seed,)
  rows = list(itertools.product(betas, caps, seeds))
  return Population(betas=tuple(float(b) for b, _, _ in rows),
                    capacity_maxes=tuple(float(c) for _, c, _ in rows),
                    seeds=tuple(int(s) for _, _, s in rows))


def member_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(init, loop, eval) keys of a member, derived from its seed alone.

  Nothing random is stored: the loop key is folded with the step inside the
  train step, so a resumed run draws the same noise as an uninterrupted one,
  and the eval key is the same at every evaluation, so ELBOs compare.
  """
  init_key, loop_key, eval_key = jax.random.split(jax.random.key(seed), 3)
  return init_key, loop_key, eval_key


def in_turn_on_cpu(fn: Callable) -> Callable:
  """`fn` whose `jax.vmap` over members runs them one after another on a CPU.

  Vmapped over members, every convolution of the model becomes a batched
  one that XLA:CPU has no fast kernel for: conv_ops then loops over
  members per layer, and slicing and stacking the activations around each
  layer cost a population of 8 about a tenth of its throughput. Looping
  over members around the whole model (`lax.map`, one compiled body: the
  train step wraps its forward and backward pass, the eval step all of
  it) runs the single-model program P times instead, so a sweep trained
  together costs about what its members cost trained one after another
  (docs/performance.md). The code still reads, and behaves, as
  `jax.vmap(fn)`; arguments vmapped with axis None are shared by every
  member. Other backends, where one small model leaves the device idle,
  and several CPU devices (members sharded across them) keep XLA's own
  batching. Apply it only to models that run well in a loop body
  (`runs_in_turn`).
  """
  wrapped = jax.custom_batching.custom_vmap(fn)

  @wrapped.def_vmap
  def rule(size, batched, *args):
    if jax.default_backend() != "cpu" or jax.device_count() > 1:
      axes = jax.tree.map(lambda b: 0 if b else None, batched)
      out = jax.vmap(fn, in_axes=tuple(axes))(*args)
    else:
      leaves, tree = jax.tree.flatten(args)
      flags = jax.tree.leaves(batched)

      def one(member_leaves):
        it = iter(member_leaves)
        return fn(*jax.tree.unflatten(
            tree, [next(it) if b else a for a, b in zip(leaves, flags)]))
      per_member = [a for a, b in zip(leaves, flags) if b]
      if size == 1:  # No loop: XLA lays out some convs badly inside one.
        out = jax.tree.map(lambda y: jnp.expand_dims(y, 0),
                           one([a[0] for a in per_member]))
      else:
        out = lax.map(one, per_member)
    return out, jax.tree.map(lambda _: True, out)

  return wrapped


def runs_in_turn(model_config: ml_collections.ConfigDict) -> bool:
  """Whether a population of this model runs its members in turn on CPU
  (`in_turn_on_cpu`), the faster way for every model but flax's convs.

  conv_ops' convolutions and dense layers run as fast inside a loop body as
  alone; flax's own convolutions get poor layouts there (a population in
  turn trains far slower than one model: docs/performance.md), so they
  keep XLA's batching.
  """
  return (model_config.name != "conv"
          or models.conv_impl_of(model_config) == "fast")
