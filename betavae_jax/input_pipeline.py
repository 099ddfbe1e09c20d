"""The data the train loop sees: a dataset, its splits, and uint8 batches.

The batch at step t is a pure function of (data seed, t): each epoch is a
seeded permutation of the training indices, so a resumed run passes the
step it restarts from and gets exactly the batches it would have had, and
the checkpoint needs no iterator state; hosts take disjoint slices of each
global batch. This numpy index sampler plays the part of grain's
IndexSampler, which yields one record at a time: computing whole blocks of
batches lets reads go in blocks of about 1,024 images, in host threads.
Per-call costs, not bytes, bound the speed: tfds' `as_data_source`
`__getitems__` starts a thread pool per call, so 1,024-image blocks read
much faster than 64-image calls (docs/performance.md,
`benchmarks.input_pipeline_speed`).

Batches stay uint8; the float conversion happens on device. Nothing is
downloaded: dSprites is prepared once offline (see `datasets`), other tfds
datasets must be prepared beforehand.
"""

from collections.abc import Iterator
import dataclasses
import functools
import itertools
import time

from absl import logging
import ml_collections
import numpy as np

from betavae_jax import base_config
from betavae_jax.datasets import dsprites
from betavae_jax.datasets import errors
from betavae_jax.datasets import ground_truth
from betavae_jax.datasets import prefetch
from betavae_jax.datasets import sources
from betavae_jax.datasets import synthetic

DataError = errors.DataError
_BLOCK_IMAGES = 1024  # Images read per call (see the module docstring).
_EVAL_SUBSET_SEED = 0  # Which training images stand in for a missing split.
# Datasets whose held images would take more are read per batch.
IN_MEMORY_MAX_MIB = 1024


def default_data_config() -> ml_collections.ConfigDict:
  """The `config.data` section of `base_config` (its fields documented
  there), for code that loads data without a whole config."""
  return base_config.base_config().data


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A loaded dataset: where images come from and how it is split.

  Attributes:
    name: config.data.name.
    source: random access to every image: `len(source)`, and
      `source.read(indices)` -> uint8 (B, H, W, C).
    ground_truth: the factor interface, or None for datasets without one.
    image_shape: (H, W, C) of every image.
    pixel_max: the value of a fully lit pixel (1 for dSprites, 255 else).
    train_indices: sorted indices into `source` used for training.
    eval_indices: sorted held-out indices (factor combinations never seen
      in training); empty when config.data.eval_fraction is 0.
    num_threads: host threads reading batches.
    prefetch: blocks of batches read ahead.
    version: which data this is, e.g. 'betavae_dsprites/rendered/1.0.0':
      runs record it so a resumed run can tell whether its data changed.
  """

  name: str
  source: sources.ImageSource
  ground_truth: ground_truth.GroundTruthData | None
  image_shape: tuple[int, int, int]
  pixel_max: int
  train_indices: np.ndarray
  eval_indices: np.ndarray
  num_threads: int = 2
  prefetch: int = 4
  version: str = ""


def load_dataset(data_config: ml_collections.ConfigDict) -> Dataset:
  """Loads (and for dSprites, prepares once) the configured dataset.

  Args:
    data_config: a `default_data_config()`-shaped ConfigDict.

  Returns:
    The dataset with its train / eval split.

  Raises:
    DataError: unknown name, missing TensorFlow for a tfds dataset, a
      missing, corrupt or wrong-shaped official file, an invalid field.
  """
  _check_fields(data_config)
  return _split(data_config, *_load_source(data_config))


def rendered_dsprites(data_config: ml_collections.ConfigDict) -> Dataset:
  """dSprites drawn on demand by the offline renderer, nothing prepared.

  The split is the configured one, so the held-out images are those a model
  trained on the prepared data never saw. The version is the one the
  builder prepares now, whose images these are.
  """
  _check_fields(data_config)
  if data_config.name != "dsprites":
    raise DataError(f"Only dSprites can be rendered; config.data.name is "
                    f"{data_config.name!r}.")
  # tensorflow-datasets loads on first use only: the loop imports this module.
  # pylint: disable-next=g-import-not-at-top
  from betavae_jax.datasets import dsprites_builder
  builder = dsprites_builder.BetavaeDsprites
  return _split(data_config, dsprites.RenderedSource(), dsprites.DSprites(),
                dsprites.DSprites.pixel_max,
                f"{builder.name}/rendered/{builder.VERSION}")


def _split(data_config: ml_collections.ConfigDict,
           source: sources.ImageSource,
           truth: ground_truth.GroundTruthData | None, pixel_max: int,
           version: str) -> Dataset:
  """The Dataset of `source` with the configured train / eval split."""
  train, held_out = split_indices(len(source), data_config.eval_fraction,
                                  data_config.split_seed)
  logging.info("Dataset %s: %d train, %d eval images of shape %s.",
               data_config.name, len(train), len(held_out),
               source.image_shape)
  return Dataset(name=data_config.name, source=source, ground_truth=truth,
                 image_shape=tuple(source.image_shape), pixel_max=pixel_max,
                 train_indices=train, eval_indices=held_out,
                 num_threads=max(1, data_config.num_threads),
                 prefetch=max(1, data_config.prefetch), version=version)


def _check_fields(data_config: ml_collections.ConfigDict) -> None:
  """Fails on invalid fields before any preparing or reading."""
  if not 0 <= data_config.eval_fraction < 1:
    raise DataError(f"config.data.eval_fraction={data_config.eval_fraction}"
                    f" is invalid: must lie in [0, 1).")
  limit = _in_memory_max_mib(data_config)
  if limit < 0:
    raise DataError(f"config.data.in_memory_max_mib={limit} is invalid: "
                    "must be >= 0.")


def _load_source(data_config: ml_collections.ConfigDict):
  """(source, ground truth or None, pixel_max, data version) of the name."""
  if data_config.name == "synthetic":
    truth = synthetic.Synthetic()
    images = truth.images_from_indices(np.arange(truth.num_examples))
    source = _held(data_config, sources.ArraySource(images), binary=True)
    return source, truth, truth.pixel_max, "synthetic"
  # tensorflow-datasets loads on first use only: the loop imports this module.
  # pylint: disable=g-import-not-at-top
  from betavae_jax.datasets import dsprites_builder
  from betavae_jax.datasets import records
  from betavae_jax.datasets import tfds_images
  # pylint: enable=g-import-not-at-top
  if data_config.name == "dsprites":
    builder = dsprites_builder.prepared_builder(
        data_config.source, data_config.path, data_config.data_dir,
        data_config.url if data_config.download else None,
        data_config.get("version"))  # Runs saved before the field: None.
    source = _held(data_config, records.RecordSource(
        builder, "train", dsprites_builder.IMAGE_KEY,
        dsprites_builder.SPECS[dsprites_builder.IMAGE_KEY]), binary=True)
    truth = dsprites.DSprites(source)
    return source, truth, truth.pixel_max, builder.info.full_name
  source, truth = tfds_images.load(
      data_config.name, data_config.data_dir, data_config.image_size,
      functools.partial(_held, data_config, binary=False))
  return source, truth, 255, data_config.name


def _in_memory_max_mib(data_config: ml_collections.ConfigDict) -> float:
  """The config's limit, or the default for runs saved before the field."""
  return data_config.get("in_memory_max_mib", IN_MEMORY_MAX_MIB)


def _held(data_config: ml_collections.ConfigDict,
          source: sources.ImageSource, binary: bool) -> sources.ImageSource:
  """`source`, or its images read into memory (config.data.in_memory) if
  they fit in config.data.in_memory_max_mib."""
  if not data_config.get("in_memory", False):  # Runs from before the field.
    return source
  limit = _in_memory_max_mib(data_config)
  mib = sources.held_bytes(source, binary) / 2**20
  if mib > limit:
    logging.info("Reading %s per batch: held in memory it would take %.0f "
                 "MiB, over config.data.in_memory_max_mib=%d.",
                 data_config.name, mib, limit)
    return source
  start = time.perf_counter()
  held = sources.hold_in_memory(source, binary,
                                max(1, data_config.num_threads))
  logging.info("Read %d images into memory in %.1f s.", len(held),
               time.perf_counter() - start)
  return held


def split_indices(n: int, eval_fraction: float,
                  split_seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Holds out round(eval_fraction * n) random indices: (train, eval)."""
  num_eval = int(round(eval_fraction * n))
  order = np.random.default_rng(split_seed).permutation(n)
  return np.sort(order[num_eval:]), np.sort(order[:num_eval])


def batch_indices(train_indices: np.ndarray, batch_size: int, seed: int,
                  step: int) -> np.ndarray:
  """The global batch at `step`: a pure function of (seed, step).

  Epoch e is the permutation of `train_indices` drawn from (seed, e); its
  last partial batch is dropped.
  """
  per_epoch = len(train_indices) // batch_size
  epoch, position = divmod(step, per_epoch)
  order = _epoch_order(len(train_indices), seed, epoch)
  return train_indices[order[position * batch_size:
                             (position + 1) * batch_size]]


@functools.lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
  """The permutation of epoch `epoch`, cached: steps come in order."""
  order = np.random.default_rng([seed, epoch]).permutation(n)
  order.flags.writeable = False
  return order


def batch_iterator(dataset: Dataset, batch_size: int, seed: int,
                   start_step: int = 0, shard_index: int = 0,
                   num_shards: int = 1) -> Iterator[np.ndarray]:
  """Infinite shuffled uint8 training batches, from batch `start_step` on.

  Args:
    dataset: from `load_dataset`.
    batch_size: the global batch size (all hosts together).
    seed: the data order seed (config.data.seed).
    start_step: batches already consumed; a resumed run passes its step.
    shard_index: this host's index among `num_shards` hosts.
    num_shards: hosts splitting each global batch; each gets its own
      contiguous, disjoint batch_size / num_shards rows.

  Yields:
    (batch_size / num_shards, H, W, C) uint8 arrays; the t-th (counting
    from 0, across restarts) is a function of (seed, t) only.
  """
  local = _local_size(batch_size, shard_index, num_shards)
  if len(dataset.train_indices) < batch_size:
    raise DataError(f"{dataset.name}: {len(dataset.train_indices)} training "
                    f"images cannot fill a batch of {batch_size}.")
  return _batches(dataset, batch_size, seed, start_step, shard_index, local)


def _batches(dataset: Dataset, batch_size: int, seed: int, start_step: int,
             shard_index: int, local: int) -> Iterator[np.ndarray]:
  """Reads blocks of consecutive batches ahead, yields them one by one."""
  steps_per_block = max(1, _BLOCK_IMAGES // local)

  def block_indices(first: int) -> np.ndarray:
    return np.concatenate([
        batch_indices(dataset.train_indices, batch_size, seed, t)[
            shard_index * local:(shard_index + 1) * local]
        for t in range(first, first + steps_per_block)])

  blocks = prefetch.ordered_map(
      dataset.source.read,
      map(block_indices, itertools.count(start_step, steps_per_block)),
      dataset.num_threads, dataset.prefetch)
  for block in blocks:
    yield from block.reshape(steps_per_block, local, *block.shape[1:])


def eval_batches(dataset: Dataset, batch_size: int,
                 num_examples: int | None = None, shard_index: int = 0,
                 num_shards: int = 1,
                 split: str = "eval") -> Iterator[np.ndarray]:
  """A deterministic pass over held-out images, in full batches.

  Reads a fixed random subset of `num_examples` held-out images (all when
  None), or, without held-out data or with `split='train'`, of the
  training images (to compare the ELBO on seen and unseen combinations).
  Random, not the first indices: those of a factor grid all share its
  first factors' values (dSprites' first images are all small squares).
  The count is rounded down to whole batches (at least one, cycling a
  smaller set) so every batch has the compiled shape.

  Yields:
    (batch_size / num_shards, H, W, C) uint8 arrays; this host's rows.
  """
  if split not in ("eval", "train"):
    raise ValueError(f"split must be 'eval' or 'train'; got {split!r}.")
  local = _local_size(batch_size, shard_index, num_shards)
  pool = dataset.eval_indices if split == "eval" else dataset.eval_indices[:0]
  if not len(pool):
    pool = dataset.train_indices
  pool = pool[np.random.default_rng(_EVAL_SUBSET_SEED).permutation(
      len(pool))[:num_examples]]
  num_batches = max(1, len(pool) // batch_size)
  chosen = np.resize(pool, (num_batches, batch_size))
  rows = chosen[:, shard_index * local:(shard_index + 1) * local]
  yield from prefetch.ordered_map(dataset.source.read, rows,
                                  dataset.num_threads, dataset.prefetch)


def _local_size(batch_size: int, shard_index: int, num_shards: int) -> int:
  """Rows per host; the global batch must split evenly."""
  if batch_size % num_shards or not 0 <= shard_index < num_shards:
    raise ValueError(f"A batch of {batch_size} cannot be split into "
                     f"{num_shards} shards (shard {shard_index}).")
  return batch_size // num_shards
