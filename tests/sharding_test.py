"""Data-parallel and population sharding on 8 simulated CPU devices.

JAX fixes its device count at start-up, so each check runs in a subprocess
with XLA_FLAGS=--xla_force_host_platform_device_count=8.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Every test starts a process with several virtual CPU devices.
pytestmark = pytest.mark.slow

_PRELUDE = textwrap.dedent("""
    import importlib.util, sys
    import jax, numpy as np
    from betavae_jax import models, population, sharding, steps
    spec = importlib.util.spec_from_file_location("c", "configs/test.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    config = mod.get_config()
    assert jax.device_count() == 8, jax.devices()
    SHAPE = (32, 32, 1)
    rng = np.random.default_rng(0)
    images = (rng.random((16,) + SHAPE) < 0.3).astype(np.uint8)

    def run(betas, seeds, sharded, num_steps=3):
      config.population.betas, config.population.seeds = betas, seeds
      pop = population.from_config(config)
      model = models.create_model(config.model, SHAPE)
      members = pop.members()
      state = steps.create_population_state(config, model, SHAPE, members)
      if sharded:
        mesh = sharding.create_mesh()
        ssh = sharding.state_sharding(mesh, pop.size)
        bsh = sharding.batch_sharding(mesh, pop.size)
        state, members = jax.device_put((state, members), ssh)
        step, _ = steps.make_steps(config, model, 1, ssh, bsh)
        batch = sharding.put_batch(images, bsh)
      else:
        step, _ = steps.make_steps(config, model, 1)
        batch = images
      for _ in range(num_steps):
        state, metrics = step(state, batch, members)
      return jax.device_get(state.params), state
""")


def _run(body: str) -> str:
  env = dict(os.environ,
             XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", _PRELUDE + body], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _compare() -> str:
  return textwrap.dedent("""
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
  """)


def test_data_parallel_matches_single_device():
  out = _run(textwrap.dedent("""
      a, _ = run((4.0,), (0,), sharded=False)
      b, state = run((4.0,), (0,), sharded=True)
      assert not sharding.population_is_sharded(1)
      """) + _compare() + "print('ok', len(state.params['encoder']))")
  assert out.startswith("ok")


def test_population_sharded_over_devices_matches_unsharded():
  out = _run(textwrap.dedent("""
      betas = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
      a, _ = run(betas, (0,), sharded=False)
      b, state = run(betas, (0,), sharded=True)
      leaf = jax.tree.leaves(state.params)[0]
      assert len(leaf.sharding.device_set) == 8, leaf.sharding
      assert leaf.addressable_shards[0].data.shape[0] == 1
      """) + _compare() + "print('ok')")
  assert out.startswith("ok")


def test_batch_not_divisible_by_devices_is_rejected():
  out = _run(textwrap.dedent("""
      from betavae_jax import config_validation
      config.train.batch_size = 12
      try:
        config_validation.validate(config)
      except config_validation.ConfigError as e:
        print(e)
      """))
  assert "config.train.batch_size=12 is invalid" in out
  assert "divisible by the 8 devices" in out
