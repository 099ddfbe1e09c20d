"""dSprites: the factor grid, the official file and the tfds builder.

Files in the official layout are made here from the first rows of the grid
(2,048 images: shape 0, scale 0, orientations 0 and 1), so nothing is
downloaded and the full 737,280-image dataset is never prepared.
"""

import functools
import http.server
import importlib.util
import logging
import os
import shutil
import sys
import threading
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from betavae_jax import datasets
from betavae_jax.datasets import dsprites
from betavae_jax.datasets import dsprites_builder
from betavae_jax.datasets import dsprites_file
from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import records

N = 2048
OFFICIAL_BASES = np.array([737280, 245760, 40960, 1024, 32, 1])
NO_GCS = tfds.download.DownloadConfig(try_download_gcs=False)


def official_arrays(n: int = N) -> dict[str, np.ndarray]:
  """The first n rows of the official file's arrays."""
  factors = dsprites.DSprites().index_to_factors(np.arange(n))
  return {"imgs": dsprites_render.render(factors)[..., 0],
          "latents_classes": dsprites.official_classes(factors),
          "latents_values": dsprites.official_values(factors),
          "metadata": np.array({"title": "dSprites"}, dtype=object)}


def write_npz(path, **overrides) -> str:
  arrays = {**official_arrays(), **overrides}
  np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
  return str(path)


def small_builder(data_dir, source: str, path: str | None = None,
                  name: str | None = None):
  config = dsprites_builder.DSpritesConfig(
      name=name or f"{source}_first{N}", source=source, num_examples=N)
  return dsprites_builder.BetavaeDsprites(
      config=config, data_dir=str(data_dir), file_format="array_record",
      source_path=path)


# The factor grid.


def test_grid_size_and_published_bases():
  data = dsprites.DSprites()
  assert data.num_examples == 737_280
  assert data.factor_sizes == (3, 6, 40, 32, 32)
  np.testing.assert_array_equal(data.factor_bases, OFFICIAL_BASES[1:])
  index = np.random.default_rng(0).integers(0, 737_280, 1000)
  classes = dsprites.official_classes(data.index_to_factors(index))
  np.testing.assert_array_equal(classes @ OFFICIAL_BASES, index)
  np.testing.assert_array_equal(
      data.factors_to_index(data.index_to_factors(index)), index)


def test_ordering_pos_y_fastest():
  factors = dsprites.DSprites().index_to_factors(np.array([0, 1, 32, 1024]))
  np.testing.assert_array_equal(factors, [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1],
                                          [0, 0, 0, 1, 0], [0, 0, 1, 0, 0]])


def test_official_latent_values():
  factors = dsprites.DSprites().index_to_factors(np.array([0, 737_279]))
  np.testing.assert_allclose(dsprites.official_values(factors),
                             [[1, 1, 0.5, 0, 0, 0], [1, 3, 1, 2 * np.pi, 1, 1]])
  assert dsprites.official_classes(factors)[1].tolist() == [0, 2, 5, 39, 31,
                                                            31]


def test_images_render_on_demand_or_come_from_the_source():
  factors = np.array([[2, 5, 10, 3, 30], [0, 0, 0, 0, 0]])
  np.testing.assert_array_equal(dsprites.DSprites().images_from_factors(
      factors), dsprites_render.render(factors))

  class IndexImages:  # Each image holds its own index, to check the lookup.
    image_shape = (1, 1, 1)

    def __len__(self):
      return 737_280

    def read(self, indices):
      return np.asarray(indices).reshape(-1, 1, 1, 1)

  read = dsprites.DSprites(IndexImages()).images_from_factors(factors)
  assert read.ravel().tolist() == [2 * 245760 + 5 * 40960 + 10 * 1024
                                   + 3 * 32 + 30, 0]


# The official file.


def test_reads_a_file_in_the_official_layout(tmp_path):
  path = write_npz(tmp_path / "dsprites.npz")
  chunks = list(dsprites_file.read_chunks(path, N))
  images, classes, values = (np.concatenate(c) for c in zip(*chunks))
  expected = official_arrays()
  np.testing.assert_array_equal(images[..., 0], expected["imgs"])
  np.testing.assert_array_equal(classes, expected["latents_classes"])
  np.testing.assert_array_equal(values, expected["latents_values"])


@pytest.mark.parametrize("overrides, message", [
    (dict(imgs=np.zeros((N, 32, 32), np.uint8)),
     r"expected imgs of shape \(2048, 64, 64\).*found shape \(2048, 32, 32\)"),
    (dict(latents_classes=np.zeros((N, 5), np.int64)),
     r"expected latents_classes of shape \(2048, 6\); found \(2048, 5\)"),
    (dict(metadata=None), r"missing \['metadata'\]"),
    (dict(imgs=official_arrays()["imgs"] * 255), r"values 0/1 \(not 0/255\)"),
    (dict(latents_classes=official_arrays()["latents_classes"][::-1]),
     "official grid order"),
])
def test_wrong_layout_names_file_expected_and_found(tmp_path, overrides,
                                                    message):
  path = write_npz(tmp_path / "bad.npz", **overrides)
  with pytest.raises(datasets.DataError, match=message) as error:
    list(dsprites_file.read_chunks(path, N))
  assert path in str(error.value)


def test_truncated_or_corrupt_file_gives_a_clear_error(tmp_path):
  good = write_npz(tmp_path / "good.npz")
  data = open(good, "rb").read()
  truncated = tmp_path / "truncated.npz"
  truncated.write_bytes(data[:len(data) // 2])
  garbage = tmp_path / "garbage.npz"
  garbage.write_bytes(b"not a zip file" * 100)
  for path in (truncated, garbage):
    with pytest.raises(datasets.DataError, match="corrupt or truncated"
                       ) as error:
      list(dsprites_file.read_chunks(str(path), N))
    assert str(path) in str(error.value)


def test_image_data_cut_short_is_reported(tmp_path):
  path = write_npz(tmp_path / "short.npz")
  with zipfile.ZipFile(path, "a") as archive:  # A readable, short imgs.npy.
    with archive.open("imgs_short.npy", "w") as f:
      np.lib.format.write_array_header_1_0(f, {
          "descr": "|u1", "fortran_order": False, "shape": (N, 64, 64)})
      f.write(official_arrays()["imgs"][:1000].tobytes())
  names = {"imgs": "imgs_short"}
  short = tmp_path / "short2.npz"
  with zipfile.ZipFile(path) as src, zipfile.ZipFile(short, "w") as dst:
    for key in ("imgs", "latents_classes", "latents_values", "metadata"):
      dst.writestr(f"{key}.npy", src.read(f"{names.get(key, key)}.npy"))
  with pytest.raises(datasets.DataError, match=r"truncated: expected 2048 "
                     r"images; the data ends within image 1000") as error:
    list(dsprites_file.read_chunks(str(short), N))
  assert str(short) in str(error.value)


def test_missing_file_and_unknown_suffix(tmp_path):
  with pytest.raises(datasets.DataError, match="does not exist"):
    list(dsprites_file.read_chunks(str(tmp_path / "nope.npz")))
  other = tmp_path / "dsprites.zip"
  other.write_bytes(b"x")
  with pytest.raises(datasets.DataError, match="found the suffix '.zip'"):
    list(dsprites_file.read_chunks(str(other)))


def test_reads_the_hdf5_layout_where_h5py_is_installed(tmp_path):
  h5py = pytest.importorskip("h5py")
  path = tmp_path / dsprites_file.OFFICIAL_NAMES[1]
  expected = official_arrays()
  with h5py.File(path, "w") as f:
    f["imgs"] = expected["imgs"]
    f["latents/classes"] = expected["latents_classes"]
    f["latents/values"] = expected["latents_values"]
  chunks = list(dsprites_file.read_chunks(str(path), N))
  images, classes, _ = (np.concatenate(c) for c in zip(*chunks))
  np.testing.assert_array_equal(images[..., 0], expected["imgs"])
  np.testing.assert_array_equal(classes, expected["latents_classes"])
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(datasets.DataError, match="corrupt or truncated"):
    list(dsprites_file.read_chunks(str(path), N))


def test_hdf5_without_h5py_says_what_to_install(tmp_path):
  if importlib.util.find_spec("h5py") is not None:
    pytest.skip("h5py is installed")
  path = tmp_path / dsprites_file.OFFICIAL_NAMES[1]
  path.write_bytes(b"\x89HDF")
  with pytest.raises(datasets.DataError, match="pip install h5py"):
    list(dsprites_file.read_chunks(str(path)))


# The tfds builder.


def test_builder_is_registered_on_import():
  assert "betavae_dsprites" in tfds.list_builders(
      with_community_datasets=False)
  assert {c.name for c in dsprites_builder.BetavaeDsprites.BUILDER_CONFIGS
          } == {"official", "rendered"}


def test_builder_prepares_the_official_file_without_tensorflow(tmp_path):
  path = write_npz(tmp_path / "dsprites.npz")
  builder = small_builder(tmp_path / "tfds", "file", path)
  builder.download_and_prepare(download_config=NO_GCS)
  assert "tensorflow" not in sys.modules
  source = builder.as_data_source(split="train")  # tfds' own decoding.
  assert len(source) == N
  expected = official_arrays()
  for i in (0, 1, 777, N - 1):
    example = source[i]
    np.testing.assert_array_equal(example["image"][..., 0],
                                  expected["imgs"][i])
    np.testing.assert_array_equal(example["latents_classes"],
                                  expected["latents_classes"][i])
    np.testing.assert_array_equal(example["latents_values"],
                                  expected["latents_values"][i])
    assert example["index"] == i
  fast = records.RecordSource(builder, "train", "image",
                              dsprites_builder.SPECS["image"])
  rows = np.array([5, 2047, 0, 5])
  np.testing.assert_array_equal(fast.read(rows)[..., 0],
                                expected["imgs"][rows])


def test_rendered_and_official_configs_never_share_a_directory(tmp_path):
  path = write_npz(tmp_path / "dsprites.npz")
  official = small_builder(tmp_path / "tfds", "file", path, "official_t")
  rendered = small_builder(tmp_path / "tfds", "render", None, "rendered_t")
  assert official.data_dir != rendered.data_dir
  rendered.download_and_prepare(download_config=NO_GCS)
  assert not official.is_prepared()
  image = rendered.as_data_source(split="train")[1500]["image"]
  factors = dsprites.DSprites().index_to_factors(np.array([1500]))
  np.testing.assert_array_equal(image, dsprites_render.render(factors)[0])


def test_failed_prepare_leaves_nothing_half_written(tmp_path, monkeypatch):
  monkeypatch.setattr(dsprites_file, "_CHUNK", 256)
  good = write_npz(tmp_path / "good.npz")
  with zipfile.ZipFile(good) as archive:
    member = archive.getinfo("imgs.npy")
  data = open(good, "rb").read()
  # Image 2040 gets 2s: the zip CRC, checked at the end of the member,
  # fails in the last chunk, after the earlier chunks were written.
  offset = (data.index(b"imgs.npy", member.header_offset) + len("imgs.npy")
            + len(member.extra) + member.compress_size - 8 * 4096)
  corrupt = tmp_path / "corrupt.npz"
  corrupt.write_bytes(data[:offset] + b"\x02" * 100 + data[offset + 100:])
  builder = small_builder(tmp_path / "tfds", "file", str(corrupt))
  with pytest.raises(datasets.DataError,
                     match="Bad CRC-32") as error:
    builder.download_and_prepare(download_config=NO_GCS)
  assert str(corrupt) in str(error.value)
  leftovers = [os.path.join(d, f) for d, dirs, files in
               os.walk(tmp_path / "tfds") for f in dirs + files]
  assert not any("incomplete" in p or "1.0.0" in p for p in leftovers)
  assert not builder.is_prepared()
  again = small_builder(tmp_path / "tfds", "file", good)
  again.download_and_prepare(download_config=NO_GCS)
  assert len(again.as_data_source(split="train")) == N


def test_a_concurrent_prepare_of_the_same_data_is_reused(tmp_path,
                                                         monkeypatch):
  make = functools.partial(small_builder, tmp_path, "render")
  prepare_once = dsprites_builder.BetavaeDsprites._download_and_prepare

  def racing(self, *args, **kwargs):
    monkeypatch.setattr(dsprites_builder.BetavaeDsprites,
                        "_download_and_prepare", prepare_once)
    make().download_and_prepare(download_config=NO_GCS)  # Finishes first.
    prepare_once(self, *args, **kwargs)

  monkeypatch.setattr(dsprites_builder.BetavaeDsprites,
                      "_download_and_prepare", racing)
  builder = dsprites_builder.prepare(make)
  assert len(builder.as_data_source(split="train")) == N
  assert not list(tmp_path.glob("betavae_dsprites/*/incomplete*"))


def test_invalid_source_or_path(tmp_path):
  data_dir = str(tmp_path / "tfds")
  with pytest.raises(datasets.DataError, match="source='files' is invalid"):
    dsprites_builder.prepared_builder("files", None, data_dir)
  with pytest.raises(datasets.DataError, match="does not exist"):
    dsprites_builder.prepared_builder("auto", str(tmp_path / "x.npz"),
                                      data_dir)
  with pytest.raises(datasets.DataError, match="needs the official dSprites"):
    dsprites_builder.prepared_builder("file", None, data_dir)


def test_auto_uses_a_given_file_and_checks_it_first(tmp_path, caplog):
  caplog.set_level(logging.INFO)
  path = write_npz(tmp_path / "dsprites.npz")  # Too small for the grid.
  with pytest.raises(datasets.DataError, match=r"found \(2048, 6\)"):
    dsprites_builder.prepared_builder("auto", path, str(tmp_path / "tfds"))
  assert "the official images" in caplog.text


def test_which_source_auto_picks(tmp_path, monkeypatch):
  path = write_npz(tmp_path / "dsprites.npz")
  earlier = small_builder(tmp_path / "earlier", "file", path)
  earlier.download_and_prepare(download_config=NO_GCS)
  prepared = []
  monkeypatch.setattr(dsprites_builder.BetavaeDsprites,
                      "download_and_prepare",
                      lambda self, **_: prepared.append(self))

  def chosen(source, path=None, data_dir=tmp_path / "tfds"):
    builder = dsprites_builder.prepared_builder(source, path, str(data_dir))
    assert prepared[-1] is builder
    source_path = builder._source_path  # pylint: disable=protected-access
    return builder.builder_config.name, source_path

  assert chosen("auto") == ("rendered", None)
  assert chosen("render", path) == ("rendered", None)
  assert chosen("auto", path) == ("official", path)
  manual = tmp_path / "tfds" / "downloads" / "manual"
  manual.mkdir(parents=True)
  in_manual = str(manual / dsprites_file.OFFICIAL_NAMES[0])
  shutil.copy(path, in_manual)
  assert chosen("auto") == ("official", in_manual)
  assert chosen("file") == ("official", in_manual)
  # Official data prepared before (the small grid stands in for it).
  other = tmp_path / "other"
  shutil.copytree(earlier.data_path, other / "betavae_dsprites" / "official" /
                  str(dsprites_builder.BetavaeDsprites.VERSION))
  assert chosen("auto", data_dir=other) == ("official", None)
  assert chosen("render", data_dir=other) == ("rendered", None)


@pytest.fixture(name="official_url")
def fixture_official_url(tmp_path):
  """A loopback HTTP server publishing a small file in the official layout."""
  root = tmp_path / "www"
  root.mkdir()
  write_npz(root / dsprites_file.OFFICIAL_NAMES[0])
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
      http.server.SimpleHTTPRequestHandler, directory=str(root)))
  threading.Thread(target=server.serve_forever, daemon=True).start()
  port, name = server.server_port, dsprites_file.OFFICIAL_NAMES[0]
  yield f"http://127.0.0.1:{port}/{name}"
  server.shutdown()


def test_downloads_the_official_file_through_tfds(tmp_path, official_url):
  path = dsprites_builder.download_official(
      official_url, str(tmp_path / "downloads"), required=True)
  assert path.startswith(str(tmp_path / "downloads")) and path.endswith(".npz")
  builder = small_builder(tmp_path / "tfds", "file", path)
  builder.download_and_prepare(download_config=NO_GCS)
  assert "tensorflow" not in sys.modules
  image = builder.as_data_source(split="train")[777]["image"]
  np.testing.assert_array_equal(image[..., 0], official_arrays()["imgs"][777])


def test_download_is_used_only_when_asked_and_needed(tmp_path, monkeypatch,
                                                     official_url, caplog):
  prepared = []
  monkeypatch.setattr(dsprites_builder.BetavaeDsprites,
                      "download_and_prepare",
                      lambda self, **_: prepared.append(self))
  data_dir = str(tmp_path / "tfds")

  def chosen(source, url, path=None):
    builder = dsprites_builder.prepared_builder(source, path, data_dir, url)
    source_path = builder._source_path  # pylint: disable=protected-access
    return builder.builder_config.name, source_path

  assert chosen("auto", None) == ("rendered", None)  # Offline by default.
  assert chosen("render", official_url) == ("rendered", None)
  assert not (tmp_path / "tfds" / "downloads").exists()
  name, path = chosen("auto", official_url)
  assert name == "official"
  assert path.startswith(os.path.join(data_dir, "downloads"))
  given = write_npz(tmp_path / "given.npz")
  assert chosen("file", official_url, given) == ("official", given)
  caplog.set_level(logging.WARNING)
  missing = official_url + ".missing"
  assert chosen("auto", missing) == ("rendered", None)
  assert f"Could not download the official dSprites file from {missing}" in (
      caplog.text)
  with pytest.raises(datasets.DataError, match="HTTP code: 404"):
    chosen("file", missing)
  leftovers = os.listdir(tmp_path / "tfds" / "downloads")
  assert not [name for name in leftovers if ".tmp." in name]
