"""Versions of the prepared dSprites: the renderer's pinned, older ones read.

A run can pin config.data.version to the data it started on; this code can
only prepare the current version, so an older one is read where it was
prepared. The small grid (2,048 images) stands in for a prepared 1.0.0.
"""

import hashlib
import json
import os
import shutil
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from betavae_jax import input_pipeline
from betavae_jax.datasets import dsprites
from betavae_jax.datasets import dsprites_builder
from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import errors

N = 2048
NO_GCS = tfds.download.DownloadConfig(try_download_gcs=False)
Builder = dsprites_builder.BetavaeDsprites
# sha256 of the rendered sample below, per builder version: a renderer whose
# images change needs a new VERSION (and a line here), so that prepared data
# and the runs that record its version never silently disagree.
RENDER_DIGESTS = {
    "2.0.0": "ee379c692ba3f3e1080f7a23e880f8b766b1bc46e47b95da3c7e3846da186770",
}


def test_renderer_output_belongs_to_the_builder_version():
  factors = dsprites.DSprites().index_to_factors(
      np.arange(0, dsprites.NUM_EXAMPLES, 97))
  digest = hashlib.sha256(dsprites_render.render(factors).tobytes())
  assert RENDER_DIGESTS.get(str(Builder.VERSION)) == digest.hexdigest(), (
      "The renderer's images changed: bump BetavaeDsprites.VERSION with a "
      "release note, and record the new digest here.")


@pytest.fixture(name="data_dir")
def fixture_data_dir(tmp_path, monkeypatch):
  """A data dir holding a small rendered grid prepared as version 1.0.0."""
  with monkeypatch.context() as patch:
    patch.setattr(Builder, "VERSION", tfds.core.Version("1.0.0"))
    small = Builder(config=dsprites_builder.DSpritesConfig(
        name="rendered_small", source="render", num_examples=N),
                    data_dir=str(tmp_path / "make"))
    small.download_and_prepare(download_config=NO_GCS)
  # Filed where the full grid's 'rendered' config keeps its 1.0.0.
  target = tmp_path / "tfds" / "betavae_dsprites" / "rendered" / "1.0.0"
  shutil.copytree(small.data_path, target)
  info = json.loads((target / "dataset_info.json").read_text())
  (target / "dataset_info.json").write_text(
      json.dumps({**info, "configName": "rendered"}))
  return str(tmp_path / "tfds")


def test_an_older_version_is_read_as_prepared(data_dir):
  builder = dsprites_builder.prepared_builder("render", None, data_dir,
                                              version="1.0.0")
  assert builder.info.full_name == "betavae_dsprites/rendered/1.0.0"
  images = builder.as_data_source(split="train")
  assert len(images) == N
  factors = dsprites.DSprites().index_to_factors(np.array([5, 1500]))
  np.testing.assert_array_equal(
      np.stack([images[5]["image"], images[1500]["image"]]),
      dsprites_render.render(factors))


def test_load_dataset_records_the_pinned_version(data_dir, monkeypatch):
  # The small grid is not the full one that dSprites' factors index.
  monkeypatch.setattr(dsprites, "DSprites",
                      lambda images: types.SimpleNamespace(pixel_max=1))
  config = input_pipeline.default_data_config()
  config.update(source="render", data_dir=data_dir, version="1.0.0",
                in_memory=False)
  dataset = input_pipeline.load_dataset(config)
  assert dataset.version == "betavae_dsprites/rendered/1.0.0"
  assert len(dataset.source) == N
  # Reading the old version prepared nothing new.
  assert os.listdir(os.path.join(data_dir, "betavae_dsprites", "rendered")
                    ) == ["1.0.0"]


def test_an_older_version_not_prepared_fails_naming_it_and_where(tmp_path):
  data_dir = str(tmp_path / "tfds")
  with pytest.raises(errors.DataError) as error:
    dsprites_builder.prepared_builder("render", None, data_dir,
                                      version="1.0.0")
  message = str(error.value)
  assert "'1.0.0'" in message and "\n" not in message
  assert f"{data_dir}/betavae_dsprites/rendered/1.0.0" in message
  with pytest.raises(errors.DataError, match="official/1.0.0 or .*rendered"):
    dsprites_builder.prepared_builder("auto", None, data_dir, version="1.0.0")


def test_an_unknown_version_fails(tmp_path):
  with pytest.raises(errors.DataError, match="'0.9' is not a betavae_dsprites"
                     " version: known are 1.0.0, 2.0.0"):
    dsprites_builder.prepared_builder("render", None, str(tmp_path),
                                      version="0.9")


@pytest.mark.parametrize("version", [None, "2.0.0"])
def test_the_current_version_is_prepared_as_before(tmp_path, monkeypatch,
                                                   version):
  prepared = []
  monkeypatch.setattr(Builder, "download_and_prepare",
                      lambda self, **_: prepared.append(self))
  builder = dsprites_builder.prepared_builder("render", None, str(tmp_path),
                                              version=version)
  assert prepared == [builder]
  assert builder.info.full_name == (
      f"betavae_dsprites/rendered/{Builder.VERSION}")
