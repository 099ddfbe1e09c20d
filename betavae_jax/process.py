"""Process-wide settings that every entry point makes, in one call.

The allocator must be set before JAX starts its threads, the compilation
cache before the first compile and the distributed runtime before any
device is used, so the commands (train, evaluate, visualize), the
benchmarks and the studies call `setup()` first thing in `main()`.
"""

from betavae_jax import allocator
from betavae_jax import compiler_options
from betavae_jax import metric_writer
from betavae_jax import sharding


def setup(compilation_cache_dir: str = "", distributed: bool = False) -> None:
  """Applies the process settings; each part is a no-op where it does not fit.

  Args:
    compilation_cache_dir: JAX's persistent compilation cache ('' : off);
      see `compiler_options.use_persistent_cache`.
    distributed: join a multi-process run when the environment describes
      one (`sharding.maybe_initialize_distributed`); the trainer does.
  """
  allocator.keep_heap()  # Before JAX starts its threads; see allocator.py.
  if distributed:
    sharding.maybe_initialize_distributed()
  metric_writer.quiet_library_logs()
  compiler_options.use_persistent_cache(compilation_cache_dir)
