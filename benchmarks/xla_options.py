r"""Interleaved A/B of the train step under different XLA:CPU options.

  python -m benchmarks.xla_options --variants=package,xla_defaults,ynn_dots

Compiles the default conv model's population train step
(`steps.population_steps`, the program `steps.make_steps` jits) once per
set of `jax.jit(..., compiler_options=...)`, then times the sets round by
round like the benchmark (`timing.interleaved_rates`: a fresh random
order each round), so that the machine's drifting load falls on all of
them alike. Prints each set's median and
20th-percentile step time and its median relative to the first set. This is
the measurement behind `betavae_jax/compiler_options.py` and the options
listed as tried in docs/performance.md; on a shared machine, small
differences are noise (the same options under two names set the floor).
"""

from collections.abc import Sequence
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing
from betavae_jax import base_config
from betavae_jax import compiler_options
from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import process
from betavae_jax import steps

_YNN = "xla_cpu_experimental_ynn_fusion_type"
_TYPE = "LIBRARY_FUSION_TYPE_"
VARIANTS = {
    "package": dict(compiler_options.CPU_OPTIONS),
    "xla_defaults": {},
    "ynn_dots": {_YNN: _TYPE + "INDIVIDUAL_DOT"},
    "ynn_dot_fusions": {_YNN: f"{_TYPE}DOT,{_TYPE}REDUCE"},
    "ynn_eltwise": {_YNN: f"{_TYPE}INDIVIDUAL_DOT,{_TYPE}REDUCE,"
                          f"{_TYPE}ELTWISE"},
    "onednn": dict(compiler_options.CPU_OPTIONS, xla_cpu_use_onednn=True),
    "onednn_custom_call": dict(compiler_options.CPU_OPTIONS,
                               xla_cpu_experimental_onednn_custom_call=True),
    "eigen_single_thread": dict(compiler_options.CPU_OPTIONS,
                                xla_cpu_multi_thread_eigen=False),
    "vector_width_512": dict(compiler_options.CPU_OPTIONS,
                             xla_cpu_prefer_vector_width=512),
    "tiling_propagation": dict(
        compiler_options.CPU_OPTIONS,
        xla_cpu_experimental_enable_tiling_propagation=True),
    "concurrency_scheduler": dict(
        compiler_options.CPU_OPTIONS,
        xla_cpu_enable_concurrency_optimized_scheduler=True),
}

_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS),
                              f"Which of {sorted(VARIANTS)}; the first is the "
                              "reference.")
_POPULATION = flags.DEFINE_integer("population", 1, "Members per step.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per member step.")
_ROUNDS = flags.DEFINE_integer("rounds", 7, "Interleaved rounds.")
_STEPS = flags.DEFINE_integer("steps", 12, "Timed steps per round.")


def main(argv: Sequence[str]) -> None:
  del argv
  process.setup()
  unknown = set(_VARIANTS.value) - set(VARIANTS)
  if unknown:
    raise app.UsageError(f"Unknown variants {sorted(unknown)}; choose from "
                         f"{sorted(VARIANTS)}.")
  config = base_config.base_config()
  config.train.batch_size = _BATCH.value
  config.model.conv_impl = "fast"
  config.population.seeds = tuple(range(_POPULATION.value))
  members = population_lib.from_config(config).members()
  image_shape = (64, 64, 1)
  model = models.create_model(config.model, image_shape)
  images = jnp.asarray(timing.sparse_images(_BATCH.value, image_shape))
  contenders, first_loss = [], {}
  for name in _VARIANTS.value:
    fn = jax.jit(steps.population_steps(config, model, pixel_max=1)[0],
                 donate_argnums=0, compiler_options=VARIANTS[name])
    holder = [steps.create_population_state(config, model, image_shape,
                                            members)]

    def step(fn=fn, holder=holder):
      holder[0], metrics = fn(holder[0], images, members)
      return metrics["loss"]

    def wait(holder=holder):
      jax.block_until_ready(holder[0])

    start = time.perf_counter()
    first_loss[name] = float(step()[0])
    contenders.append(timing.Contender(
        name, _POPULATION.value * _BATCH.value, time.perf_counter() - start,
        step, wait))
  rates = timing.interleaved_rates(contenders, _STEPS.value, _ROUNDS.value)
  # Every variant steps the same images, so a step's time is images / rate.
  times = {c.name: c.images_per_step / np.asarray(rates[c.name])
           for c in contenders}
  reference = np.median(times[contenders[0].name])
  print(f"P={_POPULATION.value}, batch {_BATCH.value}, {_ROUNDS.value} "
        f"interleaved rounds of {_STEPS.value} steps")
  for c in contenders:
    median = np.median(times[c.name])
    print(f"{c.name:20s} median {median * 1e3:6.1f} ms  "
          f"p20 {np.percentile(times[c.name], 20) * 1e3:6.1f} ms  "
          f"{c.images_per_step / median:6.0f} img/s  "
          f"x{median / reference:.3f}  compile {c.first_step_s:.1f} s  "
          f"first loss {first_loss[c.name]:.4f}")


if __name__ == "__main__":
  app.run(main)
