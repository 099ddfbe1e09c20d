"""Schedule values at given steps."""

import pytest

from betavae_jax import schedules


def _at(config, steps):
  fn = schedules.create_schedule(config)
  return [float(fn(s)) for s in steps]


def test_constant():
  assert _at(schedules.schedule_config(), [0, 10**6]) == [1.0, 1.0]


def test_linear_anneal_from_zero():
  cfg = schedules.schedule_config("linear", transition_steps=100)
  assert _at(cfg, [0, 50, 100, 1000]) == pytest.approx([0, 0.5, 1, 1])


def test_cosine():
  cfg = schedules.schedule_config("cosine", decay_steps=100, alpha=0.1)
  assert _at(cfg, [0, 50, 100]) == pytest.approx([1.0, 0.55, 0.1])


def test_warmup_cosine():
  cfg = schedules.schedule_config("warmup_cosine", warmup_steps=10,
                                  decay_steps=110, end_value=0.0)
  assert _at(cfg, [0, 5, 10, 110]) == pytest.approx([0, 0.5, 1, 0], abs=1e-6)


def test_piecewise_constant():
  cfg = schedules.schedule_config("piecewise_constant", boundaries=(10, 20),
                                  scales=(0.5, 0.1))
  assert _at(cfg, [0, 15, 25]) == pytest.approx([1.0, 0.5, 0.05])


def test_cyclical():
  cfg = schedules.schedule_config("cyclical", cycle_steps=100, ratio=0.5,
                                  num_cycles=2)
  values = _at(cfg, [0, 25, 50, 99, 100, 125, 199, 250])
  assert values == pytest.approx([0, 0.5, 1, 1, 0, 0.5, 1, 1], abs=0.02)


def test_scaled_and_unknown():
  fn = schedules.scaled(schedules.create_schedule(
      schedules.schedule_config("linear", transition_steps=10)), 4.0)
  assert float(fn(5)) == pytest.approx(2.0)
  with pytest.raises(ValueError, match="one of"):
    schedules.create_schedule(schedules.schedule_config("exp"))
