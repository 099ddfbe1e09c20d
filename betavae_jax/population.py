"""Populations: P models with different beta, seed or C_max trained together.

A population is the product of the config's per-member value lists. Each
member's hyperparameters become arrays with a leading population axis, which
the train step is vmapped over, so a beta sweep is one compiled program.
"""

import dataclasses
import itertools

import flax
import jax
import jax.numpy as jnp
import ml_collections


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
  """The product betas x capacity_max x seeds; unset lists take the scalars."""
  pop = config.population
  betas = pop.betas if pop.betas is not None else (config.objective.beta,)
  caps = (pop.capacity_max if pop.capacity_max is not None else
          (config.objective.capacity_max,))
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
