"""The dSprites builder through tfds' own entry points, without TensorFlow.

`tfds.builder`, `download_and_prepare()` and `tfds.data_source` called as
tfds documents them, with no file format named: the builder must default
to ArrayRecord, since tfds' TFRecord default needs TensorFlow to write.
"""

import tensorflow_datasets as tfds

from betavae_jax.datasets import dsprites_builder

N = 1024  # The grid's first rows: a config of its own, prepared in seconds.


def _config() -> dsprites_builder.DSpritesConfig:
  return dsprites_builder.DSpritesConfig(
      name=f"rendered_first{N}", source="render", num_examples=N)


def test_builder_prepares_and_serves_with_default_arguments(tmp_path):
  data_dir = str(tmp_path / "tfds")
  builder = tfds.builder("betavae_dsprites", config=_config(),
                         data_dir=data_dir)
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  shards = list((tmp_path / "tfds").rglob("*.array_record*"))
  assert shards and not list((tmp_path / "tfds").rglob("*.tfrecord*"))
  source = tfds.data_source("betavae_dsprites", split="train",
                            data_dir=data_dir, download=False,
                            builder_kwargs={"config": _config()})
  assert len(source) == N
  example = source[N - 1]
  assert example["image"].shape == (64, 64, 1)
  assert example["index"] == N - 1
  assert example["image"].max() == 1  # Every grid row holds a lit shape.


def test_an_explicit_file_format_is_still_honoured(tmp_path):
  builder = dsprites_builder.BetavaeDsprites(
      config=_config(), data_dir=str(tmp_path), file_format="tfrecord")
  assert builder.info.file_format == tfds.core.FileFormat.TFRECORD
