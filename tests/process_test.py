"""process.setup: the one call of every entry point, in a fresh process."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_setup_applies_every_process_setting(tmp_path):
  code = (
      "from absl import logging\n"
      "import jax\n"
      "from betavae_jax import allocator\n"
      "from betavae_jax import process\n"
      f"process.setup({str(tmp_path)!r})\n"
      "print(jax.config.jax_compilation_cache_dir)\n"
      "print(len(logging.get_absl_handler().filters))\n"
      "print(allocator.describe())\n")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  cache, filters, heap = proc.stdout.splitlines()
  assert cache == str(tmp_path)
  assert filters == "1"  # Orbax's INFO lines dropped.
  assert "not called" not in heap  # keep_heap ran (or said why it did not).
