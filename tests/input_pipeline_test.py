"""The input pipeline: splits, step-indexed batches, resume, shards, eval."""

import importlib.util
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from betavae_jax import input_pipeline
from betavae_jax.datasets import dsprites
from betavae_jax.datasets import dsprites_builder
from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import records
from betavae_jax.datasets import sources


def synthetic(eval_fraction: float = 0.1, **fields) -> input_pipeline.Dataset:
  config = input_pipeline.default_data_config()
  config.update(dict(name="synthetic", eval_fraction=eval_fraction, **fields))
  return input_pipeline.load_dataset(config)


def take(iterator, n: int) -> list[np.ndarray]:
  return [next(iterator) for _ in range(n)]


def image_ids(dataset: input_pipeline.Dataset,
              batches: list[np.ndarray]) -> np.ndarray:
  """Grid index of each image in `batches` (synthetic images are unique)."""
  all_images = dataset.source.read(np.arange(len(dataset.source)))
  lookup = {img.tobytes(): i for i, img in enumerate(all_images)}
  return np.array([[lookup[img.tobytes()] for img in batch]
                   for batch in batches])


def test_default_data_config_is_offline_and_typed():
  config = input_pipeline.default_data_config()
  assert not config.download  # Offline by default.
  assert (config.name, config.source, config.path) == ("dsprites", "auto",
                                                       None)
  config.path = "/data/dsprites.npz"  # Placeholders take a string.
  config.data_dir = "/tmp/tfds"
  with pytest.raises(TypeError):
    config.seed = "zero"


def test_synthetic_dataset_and_held_out_split():
  data = synthetic(eval_fraction=0.1, split_seed=3)
  assert data.image_shape == (32, 32, 1) and data.pixel_max == 1
  assert data.ground_truth.num_examples == len(data.source) == 3072
  assert len(data.eval_indices) == round(0.1 * 3072)
  assert not set(data.train_indices) & set(data.eval_indices)
  assert len(data.train_indices) + len(data.eval_indices) == 3072
  other = synthetic(eval_fraction=0.1, split_seed=4)
  assert not np.array_equal(data.eval_indices, other.eval_indices)
  assert len(synthetic(eval_fraction=0.0).eval_indices) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_invalid_eval_fraction(fraction):
  with pytest.raises(input_pipeline.DataError, match="eval_fraction"):
    synthetic(eval_fraction=fraction)


def test_batches_are_uint8_and_a_function_of_seed_and_step():
  data = synthetic()
  first = take(input_pipeline.batch_iterator(data, 32, seed=7), 5)
  again = take(input_pipeline.batch_iterator(data, 32, seed=7), 5)
  other = take(input_pipeline.batch_iterator(data, 32, seed=8), 5)
  assert first[0].shape == (32, 32, 32, 1) and first[0].dtype == np.uint8
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_resume_gives_exactly_the_same_batches():
  data = synthetic()
  per_epoch = len(data.train_indices) // 64  # 43: crosses an epoch below.
  straight = take(input_pipeline.batch_iterator(data, 64, seed=1), 60)
  resumed = take(input_pipeline.batch_iterator(data, 64, seed=1,
                                               start_step=37), 23)
  assert per_epoch < 60
  for a, b in zip(straight[37:], resumed):
    np.testing.assert_array_equal(a, b)


def test_each_epoch_visits_training_images_once_in_a_new_order():
  data = synthetic()
  per_epoch = len(data.train_indices) // 64
  ids = image_ids(data, take(input_pipeline.batch_iterator(data, 64, seed=0),
                             2 * per_epoch))
  epochs = ids.reshape(2, -1)
  for epoch in epochs:
    assert len(np.unique(epoch)) == epoch.size  # No repeats in an epoch.
    assert set(epoch) <= set(data.train_indices)  # Never an eval image.
  assert not np.array_equal(epochs[0], epochs[1])


def test_batch_indices_is_pure():
  train = np.arange(100, 1100)
  a = input_pipeline.batch_indices(train, 10, seed=2, step=250)
  input_pipeline.batch_indices(train, 10, seed=2, step=3)
  np.testing.assert_array_equal(
      a, input_pipeline.batch_indices(train, 10, seed=2, step=250))
  assert set(a) <= set(train) and len(set(a)) == 10


def test_shards_are_disjoint_slices_of_the_global_batch():
  data = synthetic()
  whole = take(input_pipeline.batch_iterator(data, 32, seed=5, start_step=9),
               3)
  parts = [take(input_pipeline.batch_iterator(
      data, 32, seed=5, start_step=9, shard_index=i, num_shards=4), 3)
           for i in range(4)]
  for step in range(3):
    shards = [p[step] for p in parts]
    assert all(s.shape == (8, 32, 32, 1) for s in shards)
    np.testing.assert_array_equal(np.concatenate(shards), whole[step])
    ids = image_ids(data, shards)
    assert len(np.unique(ids)) == ids.size
  with pytest.raises(ValueError, match="cannot be split"):
    input_pipeline.batch_iterator(data, 30, seed=0, num_shards=4)


def test_too_few_training_images_for_a_batch():
  with pytest.raises(input_pipeline.DataError, match="cannot fill a batch"):
    input_pipeline.batch_iterator(synthetic(), 4096, seed=0)


def test_eval_batches_read_held_out_images_deterministically():
  data = synthetic(eval_fraction=0.1)
  batches = list(input_pipeline.eval_batches(data, 50, 200))
  assert len(batches) == 4 and batches[0].shape == (50, 32, 32, 1)
  ids = image_ids(data, batches).ravel()
  assert len(np.unique(ids)) == 200
  assert set(ids) <= set(data.eval_indices)
  # A random subset, not the grid's first held-out combinations.
  assert ids.max() > np.sort(data.eval_indices)[199]
  again = list(input_pipeline.eval_batches(data, 50, 200))
  np.testing.assert_array_equal(np.concatenate(batches),
                                np.concatenate(again))
  halves = [list(input_pipeline.eval_batches(data, 50, 200, i, 2))
            for i in range(2)]
  np.testing.assert_array_equal(
      np.concatenate([halves[0][1], halves[1][1]]), batches[1])


def test_train_split_reads_only_training_images():
  data = synthetic(eval_fraction=0.1)
  seen = np.concatenate(list(input_pipeline.eval_batches(data, 64, 256,
                                                         split="train")))
  ids = image_ids(data, [seen])
  assert len(np.unique(ids)) == 256
  assert not set(ids.ravel()) & set(data.eval_indices)
  with pytest.raises(ValueError, match="split must be"):
    next(input_pipeline.eval_batches(data, 64, 256, split="test"))


def test_eval_without_held_out_data_uses_a_fixed_training_subset():
  data = synthetic(eval_fraction=0.0)
  first = np.concatenate(list(input_pipeline.eval_batches(data, 64, 256)))
  second = np.concatenate(list(input_pipeline.eval_batches(data, 64, 256)))
  np.testing.assert_array_equal(first, second)
  assert len(np.unique(image_ids(data, [first]))) == 256
  # A set smaller than a batch is cycled into one full batch.
  small = list(input_pipeline.eval_batches(data, 64, 10))
  assert len(small) == 1 and small[0].shape[0] == 64
  np.testing.assert_array_equal(small[0][10:20], small[0][:10])


def test_unknown_dataset_name_is_a_data_error():
  config = input_pipeline.default_data_config()
  config.name = "nosuchdata"
  with pytest.raises(input_pipeline.DataError, match="nosuchdata"):
    input_pipeline.load_dataset(config)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                    reason="TensorFlow is installed")
def test_tfds_dataset_without_tensorflow_says_what_to_install():
  config = input_pipeline.default_data_config()
  config.name = "mnist"
  with pytest.raises(input_pipeline.DataError, match=r"\.\[tf\]"):
    input_pipeline.load_dataset(config)


def test_dsprites_with_a_bad_file_fails_clearly_and_writes_nothing(
    tmp_path: pathlib.Path):
  bad = tmp_path / "dsprites.npz"
  bad.write_bytes(b"PK\x03\x04 truncated")
  config = input_pipeline.default_data_config()
  config.update(dict(path=str(bad), data_dir=str(tmp_path / "tfds")))
  with pytest.raises(input_pipeline.DataError, match="corrupt or truncated"):
    input_pipeline.load_dataset(config)
  assert not list((tmp_path / "tfds").glob("betavae_dsprites/*/1.0.0"))


@pytest.mark.parametrize("in_memory", [False, True])
def test_batches_from_a_prepared_tfds_dataset(tmp_path: pathlib.Path,
                                              in_memory: bool):
  n = 4096 + 100  # Not a whole number of the in-memory read blocks.
  builder = dsprites_builder.BetavaeDsprites(
      config=dsprites_builder.DSpritesConfig(
          name="rendered_first4196", source="render", num_examples=n),
      data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  train, held_out = input_pipeline.split_indices(n, 0.25, 0)
  source = records.RecordSource(builder, "train", "image",
                                dsprites_builder.SPECS["image"])
  if in_memory:
    source = sources.hold_in_memory(source, binary=True, num_threads=2)
    assert isinstance(source, sources.PackedBitsSource)
  data = input_pipeline.Dataset(
      name="dsprites", source=source,
      ground_truth=None, image_shape=(64, 64, 1), pixel_max=1,
      train_indices=train, eval_indices=held_out)
  batches = take(input_pipeline.batch_iterator(data, 64, seed=0,
                                               start_step=40), 3)
  for step, batch in enumerate(batches, 40):
    index = input_pipeline.batch_indices(train, 64, 0, step)
    expected = dsprites_render.render(
        dsprites.DSprites().index_to_factors(index))
    np.testing.assert_array_equal(batch, expected)
  last = np.array([n - 1, 0, n - 1])
  np.testing.assert_array_equal(
      source.read(last), dsprites_render.render(
          dsprites.DSprites().index_to_factors(last)))


def test_images_held_in_memory_as_bits_or_bytes(monkeypatch):
  monkeypatch.setattr(sources, "_HOLD_BLOCK", 7)  # Several blocks.
  rng = np.random.default_rng(0)
  binary = (rng.random((30, 5, 3, 1)) < 0.3).astype(np.uint8)
  held = sources.hold_in_memory(sources.ArraySource(binary), True, 2)
  assert isinstance(held, sources.PackedBitsSource)
  assert held.image_shape == (5, 3, 1) and len(held) == 30
  rows = np.array([29, 0, 13, 13])
  np.testing.assert_array_equal(held.read(rows), binary[rows])
  grey = rng.integers(0, 256, (30, 4, 4, 3), dtype=np.uint8)
  held = sources.hold_in_memory(sources.ArraySource(grey), False, 1)
  np.testing.assert_array_equal(held.read(rows), grey[rows])
  with pytest.raises(input_pipeline.DataError, match="other than 0 and 1"):
    sources.hold_in_memory(sources.ArraySource(grey), True, 1)


def test_in_memory_config_holds_the_same_images_as_bits():
  data = synthetic()  # Held by default.
  assert isinstance(data.source, sources.PackedBitsSource)
  read = synthetic(in_memory=False)
  assert not isinstance(read.source, sources.PackedBitsSource)
  rows = np.arange(0, len(data.source), 97)
  np.testing.assert_array_equal(data.source.read(rows),
                                read.source.read(rows))


def test_datasets_over_the_memory_limit_are_read_per_batch():
  source = synthetic(in_memory=False).source
  size = sources.held_bytes(source, binary=True)
  assert size == len(source) * 32 * 32 // 8 and size < 2**20
  over = synthetic(in_memory_max_mib=0)
  assert not isinstance(over.source, sources.PackedBitsSource)
  fits = synthetic(in_memory_max_mib=1)
  assert isinstance(fits.source, sources.PackedBitsSource)
  assert sources.held_bytes(source, binary=False) == 8 * size
  with pytest.raises(input_pipeline.DataError, match="in_memory_max_mib"):
    synthetic(in_memory_max_mib=-1)


def test_invalid_data_fields_fail_before_anything_is_prepared(tmp_path):
  for field, value in (("in_memory_max_mib", -1), ("eval_fraction", 1.0)):
    config = input_pipeline.default_data_config()
    config.update({"data_dir": str(tmp_path), "source": "render",
                   field: value})
    with pytest.raises(input_pipeline.DataError, match=field):
      input_pipeline.load_dataset(config)
  assert not list(tmp_path.iterdir())
