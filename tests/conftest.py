"""Shared test helpers: configs are loaded by file path, not via the cwd.

The suite compiles the same small programs in many processes (pytest-xdist's
workers and the subprocesses tests start), so the session gives them one
JAX compilation cache, through the environment every process inherits, and
keeps even the programs that compile in under a second. It is made before
the workers start and removed when the session ends.
"""

import importlib.util
import os
import pathlib
import shutil
import tempfile

import pytest

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"
_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
_own_cache = None  # The directory this process made, to remove at the end.


def pytest_configure(config):
  """Points every process of the session at one compilation cache."""
  del config  # Unused.
  global _own_cache
  if _CACHE_ENV not in os.environ:  # The controller; workers inherit it.
    _own_cache = tempfile.mkdtemp(prefix="betavae_jax_tests_xla_")
    os.environ[_CACHE_ENV] = _own_cache
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def pytest_unconfigure(config):
  del config  # Unused.
  if _own_cache:
    shutil.rmtree(_own_cache, ignore_errors=True)


def load_config(name: str, preset: str | None = None):
  """Calls get_config() of configs/<name>.py."""
  spec = importlib.util.spec_from_file_location(
      f"configs_{name}", CONFIG_DIR / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(preset) if preset else module.get_config()


@pytest.fixture
def test_config():
  return load_config("test")
