r"""How fast the input pipeline delivers dSprites, against the step it feeds.

  python -m benchmarks.input_pipeline_speed --data_dir=/tmp/tfds

Prepares dSprites once if needed (offline renderer unless --path is given),
then prints images/s of: the training loop with the default conv model's
jitted train step fed by `batch_iterator` (first: timed after the other
measurements, its figure reading records fell), tfds' own
per-example decoding through `as_data_source` (the baseline),
`batch_iterator` batches of 64, and the host side of the training loop
(what it can feed); then the peak RSS of the whole run. `--noin_memory`
reads records per batch instead of holding the images in memory. The
machine's other load skews every figure: run it twice and report the
spread.
"""

from collections.abc import Callable
import resource
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax import base_config
from betavae_jax import input_pipeline
from betavae_jax import models
from betavae_jax import population
from betavae_jax import process
from betavae_jax import sharding
from betavae_jax import steps
from betavae_jax.datasets import dsprites_builder

_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir.")
_SOURCE = flags.DEFINE_enum("source", "auto", ["auto", "file", "render"],
                            "dSprites source.")
_PATH = flags.DEFINE_string("path", None, "The official dSprites file.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Global batch size.")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Duration of each timing.")
_THREADS = flags.DEFINE_integer("num_threads", 2, "Reader threads.")
_PREFETCH = flags.DEFINE_integer("prefetch", 4, "Blocks read ahead.")
_TRAIN = flags.DEFINE_boolean("train", True, "Also time the train step.")
_IN_MEMORY = flags.DEFINE_boolean(
    "in_memory", None, "Hold the images in memory (config.data.in_memory; "
    "unset: the config's default).")


def _rate(step: Callable[[], int], seconds: float,
          wait: Callable[[], None] = lambda: None) -> float:
  """Images per second of `step` (returning its image count), after warmup;
  `wait` blocks until the work that `step` launched has finished."""
  step()
  wait()
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    count += step()
  wait()
  return count / (time.perf_counter() - start)


def _tfds_baseline(dataset: input_pipeline.Dataset) -> float:
  """tfds' generic path: as_data_source with per-example decoding."""
  builder = dsprites_builder.prepared_builder(
      _SOURCE.value, _PATH.value, _DATA_DIR.value)
  records = builder.as_data_source(split="train")
  rng = np.random.default_rng(0)

  def step() -> int:
    keys = rng.choice(dataset.train_indices, _BATCH.value).tolist()
    np.stack([e["image"] for e in records.__getitems__(keys)])
    return _BATCH.value
  return _rate(step, _SECONDS.value)


def _loop_rate(dataset: input_pipeline.Dataset, real_step: bool) -> float:
  """Images/s of train.py's loop: the next batch, put on the device, and the
  default model's train step (`real_step`) or one that only counts steps,
  so the figure is what the host can feed; steps launch without waiting."""
  config = base_config.base_config()
  config.train.batch_size = _BATCH.value
  model = models.create_model(config.model, dataset.image_shape)
  members = population.from_config(config).members()
  mesh = sharding.create_mesh()
  state_sh, batch_sh = (sharding.state_sharding(mesh, 1),
                        sharding.batch_sharding(mesh, 1))
  members = jax.device_put(members, state_sh)
  state = jax.device_put(steps.create_population_state(
      config, model, dataset.image_shape, members), state_sh)
  if real_step:
    p_train, _ = steps.make_steps(config, model, dataset.pixel_max,
                                  state_sh, batch_sh)
  else:
    p_train = jax.jit(_count_step, donate_argnums=0)
  batches = input_pipeline.batch_iterator(dataset, _BATCH.value, seed=0)
  history = []

  def step() -> int:
    nonlocal state
    images = sharding.put_batch(next(batches), batch_sh)
    state, metrics = p_train(state, images, members)
    history.append(metrics)  # As the loop keeps them until it logs.
    del history[:-100]
    return _BATCH.value
  return _rate(step, _SECONDS.value, lambda: jax.block_until_ready(state))


def _count_step(state: steps.TrainState, images: jax.Array,
                members: population.Members):
  """A train step's signature, without the work: the host's share alone."""
  del images
  metrics = {"loss": jnp.zeros(members.beta.shape)}
  return state.replace(step=state.step + 1), metrics


def main(argv):
  del argv
  process.setup()  # As main does, so the figures are main's.
  config = input_pipeline.default_data_config()
  config.update(dict(data_dir=_DATA_DIR.value, source=_SOURCE.value,
                     path=_PATH.value, num_threads=_THREADS.value,
                     prefetch=_PREFETCH.value))
  if _IN_MEMORY.value is not None:
    config.in_memory = _IN_MEMORY.value
  start = time.perf_counter()
  dataset = input_pipeline.load_dataset(config)
  print(f"load_dataset (in_memory={config.in_memory}): "
        f"{time.perf_counter() - start:.1f} s")
  if _TRAIN.value:
    print(f"training loop with the default conv train step: "
          f"{_loop_rate(dataset, real_step=True):,.0f} images/s on "
          f"{jax.devices()[0]}")
  print(f"tfds as_data_source, per-example decode: "
        f"{_tfds_baseline(dataset):,.0f} images/s")
  batches = input_pipeline.batch_iterator(dataset, _BATCH.value, seed=0)
  rate = _rate(lambda: len(next(batches)), _SECONDS.value)
  print(f"batch_iterator, batches of {_BATCH.value}, {_THREADS.value} "
        f"threads: {rate:,.0f} images/s")
  rate = _loop_rate(dataset, real_step=False)
  print(f"training loop, host side (a step that does nothing): "
        f"{rate:,.0f} images/s, {_BATCH.value / rate * 1e3:.3f} ms a step")
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  print(f"peak RSS: {peak:.2f} GiB")


if __name__ == "__main__":
  app.run(main)
