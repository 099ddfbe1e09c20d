"""Shared test helpers: configs are loaded by file path, not via the cwd."""

import importlib.util
import pathlib

import pytest

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"


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
