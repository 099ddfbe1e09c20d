"""XLA options that the package's jitted steps compile with.

XLA:CPU (jaxlib 0.10) hands single dots, single convolutions and reductions
to the YNNPACK library. Profiling the default model's train step on a
CPU found YNNPACK's forward convolutions slower than XLA's own (Eigen) in
every layer with more than one channel on each side (`conv_ops` computes
the others as dots); its dots and reductions stay the faster choice. So on
CPU the steps keep YNNPACK for dots and reductions only, which makes the
train step faster (docs/performance.md, `benchmarks.xla_options`).
Other backends compile with XLA's defaults.

The options go to `jax.jit(..., compiler_options=...)`, per compiled
function, so the process's other JAX code and `XLA_FLAGS` are untouched.
"""

from collections.abc import Callable
import functools
import os
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp

YNN_FUSION_TYPES = ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT",
                    "LIBRARY_FUSION_TYPE_REDUCE")
CPU_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": ",".join(YNN_FUSION_TYPES)}


@functools.cache
def for_jit() -> dict[str, str]:
  """Options for `jax.jit` on the default backend; {} where none apply.

  The YNNPACK option is experimental in XLA; a jaxlib that does not know
  it gets XLA's defaults (with a warning) rather than a failed compile.
  """
  if jax.default_backend() != "cpu":
    return {}
  try:
    jax.jit(lambda x: x + 1, compiler_options=CPU_OPTIONS)(jnp.zeros(()))
  except (jax.errors.JaxRuntimeError, TypeError, ValueError) as e:
    logging.warning("XLA:CPU options not applied (%s); steps compile with "
                    "XLA's defaults.", e)
    return {}
  return dict(CPU_OPTIONS)


def jit(fun: Callable, **kwargs: Any) -> Callable:
  """`jax.jit(fun, **kwargs)` with this backend's options."""
  return jax.jit(fun, compiler_options=for_jit(), **kwargs)


def use_persistent_cache(directory: str) -> None:
  """Keeps compiled programs in `directory`, for the process.

  '' leaves JAX's own setting: off, unless JAX_COMPILATION_CACHE_DIR names
  a directory (the test suite shares one across its processes that way).

  JAX's own cache, keyed by the program, these options, the backend and
  the jaxlib version; it stores programs that took 1 s or more to compile.
  An unwritable directory costs a warning, not the run. `process.setup()`
  calls this before the first compile: it is a process-wide setting.
  """
  if directory:
    jax.config.update("jax_compilation_cache_dir",
                      os.path.expanduser(directory))
