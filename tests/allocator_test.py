"""allocator.keep_heap, each case in a fresh process.

`keep_heap` changes the process's malloc settings for good, so running it
here would change the heap of every later test; a subprocess keeps it to
itself.
"""

import os
import platform
import subprocess
import sys

import pytest

_PROBE = ("from betavae_jax import allocator; "
          "print(allocator.keep_heap()); print(allocator.describe())")


def _probe(**env_overrides) -> list[str]:
  """keep_heap()'s result and describe()'s line, run in a fresh process."""
  env = {k: v for k, v in os.environ.items()
         if not k.startswith("MALLOC_")
         and k not in ("LD_PRELOAD", "BETAVAE_JAX_KEEP_HEAP")}
  env.update(env_overrides)
  proc = subprocess.run([sys.executable, "-c", _PROBE], env=env,
                        capture_output=True, text=True, timeout=120,
                        check=True)
  return proc.stdout.splitlines()


def test_user_malloc_settings_are_left_alone():
  assert _probe(MALLOC_ARENA_MAX="2") == [
      "False", "not changed by keep_heap (MALLOC_* set by the user)"]


def test_opt_out_variable_is_respected():
  assert _probe(BETAVAE_JAX_KEEP_HEAP="0") == [
      "False", "not changed by keep_heap (BETAVAE_JAX_KEEP_HEAP=0)"]


def test_heap_is_kept_on_glibc():
  if platform.libc_ver()[0] != "glibc":
    pytest.skip("glibc only")
  kept, line = _probe()
  assert kept == "True"
  assert line.startswith("glibc, heap kept (M_ARENA_MAX=1, M_MMAP_MAX=0")
