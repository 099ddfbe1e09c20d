"""The step program (steps.py): the jitted, population-vmapped train and
eval steps on fixed arrays."""

import jax
import numpy as np
import pytest

from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import reporting
from betavae_jax import steps

SHAPE = (32, 32, 1)


def _images(n=16, seed=0):
  """Fixed binary blobs: a square at a random place in each image."""
  rng = np.random.default_rng(seed)
  images = np.zeros((n,) + SHAPE, np.uint8)
  for i, (r, c) in enumerate(rng.integers(0, 24, (n, 2))):
    images[i, r:r + 8, c:c + 8] = 1
  return images


def _setup(config, betas, seeds):
  config.population.betas = tuple(betas)
  config.population.seeds = tuple(seeds)
  pop = population_lib.from_config(config)
  model = models.create_model(config.model, SHAPE)
  members = pop.members()
  state = steps.create_population_state(config, model, SHAPE, members)
  p_train, p_eval = steps.make_steps(config, model, pixel_max=1)
  return pop, members, state, p_train, p_eval


def _run(config, betas, seeds, num_steps, images):
  _, members, state, p_train, _ = _setup(config, betas, seeds)
  for _ in range(num_steps):
    state, metrics = p_train(state, images, members)
  return state, metrics


@pytest.mark.slow
def test_one_step_changes_params_and_stays_finite(test_config):
  images = _images()
  _, members, state, p_train, _ = _setup(test_config, [4.0], [0])
  before = jax.tree.map(np.array, state.params)
  state, metrics = p_train(state, images, members)
  after = jax.tree.leaves(state.params)
  assert all(np.all(np.isfinite(a)) for a in after)
  assert any(not np.array_equal(a, b)
             for a, b in zip(after, jax.tree.leaves(before)))
  assert int(state.step[0]) == 1
  assert metrics["beta"][0] == 4.0
  assert metrics["loss"][0] == pytest.approx(
      float(metrics["recon"][0] + 4.0 * metrics["kl"][0]), rel=1e-5)
  assert 0 <= metrics["active_latents"][0] <= test_config.model.latent_dim


@pytest.mark.slow
def test_loss_falls_on_fixed_data(test_config):
  images = _images()
  _, members, state, p_train, _ = _setup(test_config, [1.0], [0])
  losses = []
  for _ in range(60):
    state, metrics = p_train(state, images, members)
    losses.append(float(metrics["loss"][0]))
  assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


@pytest.mark.slow
def test_population_member_matches_single_run(test_config):
  images = _images()
  pop_config = test_config.copy_and_resolve_references()
  pop_state, _ = _run(pop_config, [1.0, 8.0], [0, 3], 3, images)
  pop = population_lib.from_config(pop_config)
  assert pop.size == 4
  for i, (beta, seed) in enumerate(zip(pop.betas, pop.seeds)):
    single, _ = _run(test_config.copy_and_resolve_references(), [beta],
                     [seed], 3, images)
    for a, b in zip(jax.tree.leaves(single.params),
                    jax.tree.leaves(pop_state.params)):
      np.testing.assert_allclose(a[0], b[i], rtol=2e-4, atol=2e-6)


def _equations(jaxpr):
  """Every equation of `jaxpr`, nested ones (jit, scan bodies) included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for value in eqn.params.values():
      for sub in value if isinstance(value, (tuple, list)) else [value]:
        sub = getattr(sub, "jaxpr", sub)
        if hasattr(sub, "eqns"):
          yield from _equations(sub)


@pytest.mark.slow
def test_population_loops_over_gradients_not_the_optimiser(test_config):
  """On one CPU device members take turns through the model, and the
  optimiser state stays out of the loop (it updates batched)."""
  _, members, state, _, _ = _setup(test_config, [1.0, 8.0], [0])
  p_train, _ = steps.population_steps(
      test_config, models.create_model(test_config.model, SHAPE), pixel_max=1)
  jaxpr = jax.make_jaxpr(p_train)(state, _images(), members).jaxpr
  loops = [e for e in _equations(jaxpr) if e.primitive.name == "scan"]
  assert len(loops) == 1
  num_params = len(jax.tree.leaves(state.params))
  num_opt = len(jax.tree.leaves(state.opt_state))
  # Loss, its terms and one gradient per parameter; no optimiser state.
  assert num_params < len(loops[0].outvars) < num_params + num_opt


@pytest.mark.slow
def test_same_seed_gives_identical_numbers(test_config):
  images = _images()
  a, ma = _run(test_config.copy_and_resolve_references(), [4.0], [7], 3,
               images)
  b, mb = _run(test_config.copy_and_resolve_references(), [4.0], [7], 3,
               images)
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    assert np.array_equal(x, y)
  assert np.array_equal(ma["loss"], mb["loss"])


@pytest.mark.slow
def test_nonfinite_step_is_recorded_and_params_kept(test_config):
  test_config.optim.learning_rate = 1e30
  images = _images()
  _, members, state, p_train, _ = _setup(test_config, [4.0], [0])
  names = ("",)
  for _ in range(5):
    state, _ = p_train(state, images, members)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))
  # The second update fails: console step 2 (the optimiser's count was 1).
  with pytest.raises(reporting.NonFiniteError, match="step 2 in population "
                     "member 0"):
    reporting.check_finite(state.nonfinite_step, names)


@pytest.mark.slow
def test_capacity_objective_logs_capacity(test_config):
  test_config.objective.name = "capacity"
  test_config.objective.capacity.schedule.transition_steps = 10
  images = _images()
  _, members, state, p_train, _ = _setup(test_config, [4.0], [0])
  for _ in range(6):
    state, metrics = p_train(state, images, members)
  assert metrics["capacity"][0] == pytest.approx(25.0 * 5 / 10)
  assert metrics["gamma"][0] == 1000.0


@pytest.mark.slow
def test_eval_step_is_deterministic(test_config):
  images = _images()
  _, members, state, _, p_eval = _setup(test_config, [4.0], [0])
  a = steps.eval_elbo(p_eval, state.params, members, [images, images])
  b = steps.eval_elbo(p_eval, state.params, members, [images])
  assert a[0]["elbo"] == pytest.approx(b[0]["elbo"], rel=1e-6)
  assert a[0]["elbo"] == pytest.approx(-(a[0]["recon"] + a[0]["kl"]))


@pytest.mark.slow
def test_tcvae_objective_weighs_tc_by_each_members_beta(test_config):
  test_config.objective.name = "tcvae"
  test_config.objective.tcvae.alpha = 2.0
  test_config.population.betas = (1.0, 6.0)
  pop = population_lib.from_config(test_config)
  model = models.create_model(test_config.model, SHAPE)
  members = pop.members()
  state = steps.create_population_state(test_config, model, SHAPE, members)
  p_train, _ = steps.make_steps(test_config, model, pixel_max=1,
                                dataset_size=500)
  state, metrics = p_train(state, _images(), members)
  assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(state.params))
  np.testing.assert_allclose(metrics["beta"], [1.0, 6.0])
  np.testing.assert_allclose(metrics["loss"], metrics["recon"] + 2.0 * (
      metrics["mi"]) + metrics["beta"] * metrics["tc"] + metrics["dim_kl"],
                             rtol=1e-5)
  assert np.all(metrics["mi"] <= np.log(500) + 1e-4)
  with pytest.raises(ValueError, match="dataset_size"):
    steps.make_steps(test_config, model, pixel_max=1)[0](state, _images(),
                                                         members)
