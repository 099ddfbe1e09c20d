"""Populations: members from the config, and members run in turn on CPU."""

import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax import population as population_lib


def _member_step(params, x, scale):
  """A stand-in step: per-member params and scale, shared x, tree output."""
  y = jnp.tanh(x @ params["w"]) * scale
  return {"y": y, "norm": jnp.sum(y**2)}, params["w"].sum()


def test_in_turn_matches_vmap_with_shared_arguments():
  keys = jax.random.split(jax.random.key(0), 3)
  params = {"w": jax.vmap(lambda k: jax.random.normal(k, (4, 5)))(keys)}
  x = jax.random.normal(jax.random.key(1), (6, 4))
  scale = jnp.array([1.0, 2.0, 3.0])
  axes = (0, None, 0)
  expected = jax.vmap(_member_step, in_axes=axes)(params, x, scale)
  in_turn = jax.vmap(population_lib.in_turn_on_cpu(_member_step),
                     in_axes=axes)
  got = jax.jit(in_turn)(params, x, scale)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      got, expected)
  # On CPU the members really run one after another, in a loop.
  assert "scan" in str(jax.make_jaxpr(in_turn)(params, x, scale))


def test_in_turn_runs_unbatched_as_the_plain_function():
  params = {"w": jnp.ones((4, 5))}
  x = jnp.ones((2, 4))
  got = population_lib.in_turn_on_cpu(_member_step)(params, x, 2.0)
  expected = _member_step(params, x, 2.0)
  jax.tree.map(np.testing.assert_array_equal, got, expected)
