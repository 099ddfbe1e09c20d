"""Optax schedules for the learning rate, beta and the capacity C.

Every schedule here is a *shape*: a function of the step whose value
multiplies a base value (the learning rate, a population member's beta, its
C_max). One shape then serves every member of a population, and because it
is evaluated on the traced step inside the jitted train step, a changing
beta never recompiles.
"""

import ml_collections
import optax

SCHEDULES = ("constant", "linear", "cosine", "warmup_cosine",
             "piecewise_constant", "cyclical")


def schedule_config(name: str = "constant",
                    **overrides) -> ml_collections.ConfigDict:
  """A schedule section with every field present, so overrides type-check."""
  config = ml_collections.ConfigDict(dict(
      name=name,
      init_value=0.0,  # linear, warmup_cosine: multiplier at the start.
      end_value=1.0,  # linear: final multiplier; warmup_cosine: after decay.
      transition_steps=0,  # linear: length of the ramp.
      transition_begin=0,  # linear: steps held at init_value first.
      warmup_steps=0,  # warmup_cosine.
      decay_steps=0,  # cosine, warmup_cosine: total length.
      alpha=0.0,  # cosine: final multiplier.
      boundaries=(),  # piecewise_constant: steps where the value changes.
      scales=(),  # piecewise_constant: factors applied at the boundaries.
      cycle_steps=0,  # cyclical: length of one cycle.
      num_cycles=1,  # cyclical: cycles before holding at 1.
      ratio=0.5,  # cyclical: fraction of each cycle spent ramping 0 -> 1.
  ))
  config.update(overrides)
  return config


def _cyclical(config: ml_collections.ConfigDict) -> optax.Schedule:
  """Cyclical annealing (Fu et al. 2019): ramp 0 -> 1, hold, repeat."""
  ramp = max(1, int(config.ratio * config.cycle_steps))
  cycle = [optax.linear_schedule(0.0, 1.0, ramp)]
  schedules, boundaries = [], []
  for i in range(config.num_cycles):
    schedules += cycle
    boundaries.append((i + 1) * config.cycle_steps)
  schedules.append(optax.constant_schedule(1.0))
  return optax.join_schedules(schedules, boundaries)


def create_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  """Builds the multiplier schedule named by `config.name`."""
  name = config.name
  if name == "constant":
    return optax.constant_schedule(1.0)
  if name == "linear":
    return optax.linear_schedule(config.init_value, config.end_value,
                                 max(1, config.transition_steps),
                                 config.transition_begin)
  if name == "cosine":
    return optax.cosine_decay_schedule(1.0, max(1, config.decay_steps),
                                       config.alpha)
  if name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(
        config.init_value, 1.0, config.warmup_steps,
        max(config.decay_steps, config.warmup_steps + 1), config.end_value)
  if name == "piecewise_constant":
    if len(config.boundaries) != len(config.scales):
      raise ValueError("piecewise_constant needs as many scales as "
                       f"boundaries; got {tuple(config.boundaries)} and "
                       f"{tuple(config.scales)}.")
    return optax.piecewise_constant_schedule(
        1.0, dict(zip(config.boundaries, config.scales)))
  if name == "cyclical":
    if config.cycle_steps < 1:
      raise ValueError("cyclical schedule needs cycle_steps >= 1; "
                       f"got {config.cycle_steps}.")
    return _cyclical(config)
  raise ValueError(f"schedule name must be one of {SCHEDULES}; got {name!r}.")


def scaled(schedule: optax.Schedule, base) -> optax.Schedule:
  """base * schedule(step): a member's beta or C, or the learning rate."""
  return lambda step: base * schedule(step)
