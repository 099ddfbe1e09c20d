"""The XLA options of the package's jitted steps."""

import os
import re
import subprocess
import sys

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import compiler_options
from betavae_jax import conv_ops


@pytest.fixture(autouse=True)
def _fresh_cache():
  compiler_options.for_jit.cache_clear()
  yield
  compiler_options.for_jit.cache_clear()


def _conv(x, kernel):
  return conv_ops.conv(x, kernel) * 2.0


def _ynn_convolutions(hlo: str) -> list[str]:
  """Computations that YNNPACK fusions call and that hold a convolution."""
  called = set(re.findall(r"calls=(%[\w.\-]+).*__ynn_fusion", hlo))
  blocks = re.split(r"\n(?=\S)", hlo)
  return [b.split()[0] for b in blocks
          if b.split() and b.split()[0] in called and "convolution(" in b]


def _args():
  rng = np.random.default_rng(0)
  return (jnp.asarray(rng.standard_normal((2, 8, 8, 32)), jnp.float32),
          jnp.asarray(rng.standard_normal((4, 4, 32, 32)), jnp.float32))


def test_cpu_convolutions_leave_ynnpack_values_unchanged():
  options = compiler_options.for_jit()
  assert options == compiler_options.CPU_OPTIONS
  compiled = jax.jit(_conv, compiler_options=options).lower(*_args()).compile()
  hlo = compiled.as_text()
  assert "convolution(" in hlo
  assert not _ynn_convolutions(hlo)
  expected = np.asarray(jax.jit(_conv)(*_args()))
  # The two libraries sum each output's 512 products in different orders,
  # and which order each picks depends on the CPU's instruction set, so
  # float32 rounding differs by a part in 1e6 of the outputs' scale (tens
  # here), not of each output; a wrong convolution is off by whole units.
  np.testing.assert_allclose(compiled(*_args()), expected, rtol=1e-5,
                             atol=1e-5 * np.abs(expected).max())


def test_unknown_option_falls_back_to_defaults(monkeypatch, caplog):
  monkeypatch.setattr(compiler_options, "CPU_OPTIONS",
                      {"xla_cpu_experimental_ynn_fusion_type": "NO_SUCH"})
  with caplog.at_level(logging.WARNING):
    assert compiler_options.for_jit() == {}
  assert "not applied" in caplog.text


@pytest.mark.slow
def test_persistent_cache_stores_compiled_programs(tmp_path):
  # A fresh process: the cache directory is a process-wide setting.
  script = (
      "import jax, jax.numpy as jnp\n"
      "from betavae_jax import compiler_options\n"
      f"compiler_options.use_persistent_cache({str(tmp_path / 'xla')!r})\n"
      "compiler_options.jit(lambda x: jnp.sin(x) @ x)(jnp.ones((8, 8)))\n")
  env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  subprocess.run([sys.executable, "-c", script], check=True, env=env)
  assert any((tmp_path / "xla").iterdir())


def test_persistent_cache_off_for_an_empty_directory(monkeypatch):
  calls = []
  monkeypatch.setattr(jax.config, "update", lambda *a: calls.append(a))
  compiler_options.use_persistent_cache("")
  assert not calls
  compiler_options.use_persistent_cache("~/cache")
  assert calls == [("jax_compilation_cache_dir",
                    os.path.expanduser("~/cache"))]
