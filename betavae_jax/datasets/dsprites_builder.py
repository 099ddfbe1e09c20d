"""The `betavae_dsprites` tfds builder: dSprites as ArrayRecord, no TensorFlow.

Two builder configs keep the two sources apart in the tfds cache:
`official` is prepared from the official file (a path, the tfds manual
dir, or a download through tfds' download manager when the data config asks
for one), `rendered` by our offline rasteriser. `prepared_builder` picks one
from the data config and logs which and why.

Preparing writes `Tensor` features only (`Image` needs TensorFlow) into
ArrayRecord shards, read back with `as_data_source`; TensorFlow is never
imported. tfds' generic writer (GeneratorBasedBuilder) encodes and shuffles
one example at a time in Python, which alone takes minutes for the grid
before any rendering. `_download_and_prepare` serializes whole chunks with
`records.serialize_rows` instead (docs/data.md has the times), renders
the next chunk in a thread meanwhile, and keeps tfds' own machinery for
the rest: shard naming, the split info, and the incomplete dir that is
renamed only on success, so a failure leaves nothing half-written.
"""

from collections.abc import Callable, Iterator
import dataclasses
import functools
import itertools
import os
import shutil
import time

from absl import logging
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import dataset_builder
from tensorflow_datasets.core import file_adapters
import tqdm

from betavae_jax.datasets import dsprites
from betavae_jax.datasets import dsprites_file
from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import errors
from betavae_jax.datasets import prefetch
from betavae_jax.datasets import records

SOURCES = ("auto", "file", "render")
IMAGE_KEY = "image"
SPECS = {
    IMAGE_KEY: records.TensorSpec((64, 64, 1), np.uint8),
    "latents_classes": records.TensorSpec((6,), np.int64),
    "latents_values": records.TensorSpec((6,), np.float64),
    "index": records.TensorSpec((), np.int64, "none"),
}
_SHARD_SIZE = 1 << 18  # About 60 MB of records: few readers to open.
_CHUNK = 8192
# An incomplete dir untouched this long belongs to a killed preparation.
STALE_INCOMPLETE_S = 3600.0


@dataclasses.dataclass(eq=False)
class DSpritesConfig(tfds.core.BuilderConfig):
  """Which source fills the dataset, and how many grid rows.

  Attributes:
    source: 'file' (the official file) or 'render' (the rasteriser).
    num_examples: the first rows of the grid to prepare; less than the full
      grid only for tests, under a config name of their own.
  """

  source: str = "render"
  num_examples: int = dsprites.NUM_EXAMPLES

  def __post_init__(self):
    if (self.name in ("official", "rendered")
        and self.num_examples != dsprites.NUM_EXAMPLES):
      raise ValueError(f"Config {self.name!r} holds the full grid; name a "
                       f"config of {self.num_examples} rows differently.")


class BetavaeDsprites(dataset_builder.FileReaderBuilder):
  """dSprites: image, latents_classes, latents_values and the grid index."""

  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {
      "1.0.0": "Official file or offline renderer.",
      "2.0.0": "Renderer outlines fitted to official frames: squares and "
               "ellipses match them pixel for pixel, hearts within 2 px "
               "(docs/dsprites.md). The official config is unchanged.",
  }
  BUILDER_CONFIGS = [
      DSpritesConfig(name="official", source="file",
                     description="From the official dSprites file."),
      DSpritesConfig(name="rendered", source="render",
                     description="From betavae_jax's offline renderer."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Optional: place {dsprites_file.OFFICIAL_NAMES[0]} (or the .hdf5) "
      "in the manual dir, or pass its path as --config.data.path.")

  def __init__(self, *, source_path: str | None = None,
               file_format: str | None = None, **kwargs):
    """`source_path` is the official file; else the manual dir is searched.

    The file format defaults to ArrayRecord, not tfds' TFRecord, so that
    `tfds.builder(...)`, `tfds.data_source` and `tfds build` work without
    TensorFlow.
    """
    self._source_path = source_path
    super().__init__(file_format=file_format or "array_record", **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description="dSprites (Matthey et al. 2017), 737,280 64x64 binary "
                    "images on the full factor grid, in grid order.",
        features=records.features_dict(SPECS),
        homepage="https://github.com/deepmind/dsprites-dataset",
        license="Apache-2.0",
        disable_shuffling=True,
    )

  def _download_and_prepare(
      self, dl_manager: tfds.download.DownloadManager,
      download_config: tfds.download.DownloadConfig | None = None) -> None:
    """Writes the train split, shard by shard, then records its split info."""
    del download_config
    n = self.builder_config.num_examples
    template = self._get_filename_template("train")
    adapter = file_adapters.ADAPTER_FOR_FORMAT[self.info.file_format]
    num_shards = -(-n // _SHARD_SIZE)
    paths = [template.sharded_filepath(shard_index=i, num_shards=num_shards)
             for i in range(num_shards)]
    lengths = [min(_SHARD_SIZE, n - i * _SHARD_SIZE) for i in range(num_shards)]
    with tfds.core.utils.tqdm(total=n, unit=" images",
                              desc=f"Preparing {self.info.full_name}") as bar:
      serialized = self._serialized_examples(dl_manager, bar)
      for path, length in zip(paths, lengths):
        adapter.write_examples(path, ((None, record) for record in
                                      itertools.islice(serialized, length)))
    self.info.set_splits(tfds.core.SplitDict([tfds.core.SplitInfo(
        name="train", shard_lengths=lengths, filename_template=template,
        num_bytes=sum(os.path.getsize(p) for p in paths))]))

  def _serialized_examples(self, dl_manager: tfds.download.DownloadManager,
                           bar: tqdm.tqdm) -> Iterator[bytes]:
    """Every example in grid order, serialized, chunk by chunk."""
    start = 0
    for images, classes, values in self._chunks(dl_manager):
      yield from records.serialize_rows(SPECS, {
          IMAGE_KEY: images, "latents_classes": classes,
          "latents_values": values,
          "index": np.arange(start, start + len(images))})
      start += len(images)
      bar.update(len(images))

  def _chunks(self, dl_manager: tfds.download.DownloadManager
              ) -> Iterator[dsprites_file.Chunk]:
    """(images, classes, values) chunks from the configured source."""
    n = self.builder_config.num_examples
    if self.builder_config.source == "file":
      path = self._source_path or dsprites_file.find_official(
          _manual_dir(dl_manager))
      if path is None:
        raise errors.DataError(
            f"No official dSprites file: set config.data.path or place "
            f"{dsprites_file.OFFICIAL_NAMES[0]} in the tfds manual dir.")
      logging.info("dSprites: preparing from the official file %s.", path)
      return dsprites_file.read_chunks(path, n)
    logging.info("dSprites: preparing with the offline renderer "
                 "(a stand-in, not the official images).")
    return prefetch.ordered_map(
        lambda s: _rendered_chunk(s, min(s + _CHUNK, n)), range(0, n, _CHUNK),
        num_threads=1, depth=1)


def prepared_builder(source: str, path: str | None, data_dir: str | None,
                     url: str | None = None, version: str | None = None
                     ) -> tfds.core.DatasetBuilder:
  """Picks the official or rendered dSprites, prepares it once, logs which.

  Args:
    source: 'file' (the official file, or fail), 'render' (the renderer),
      or 'auto': the official file when given, found in the tfds manual dir,
      prepared before or downloaded from `url`, otherwise the renderer.
    path: the official .npz / .hdf5, if the user has it.
    data_dir: the tfds data dir; None for $TFDS_DATA_DIR or tfds' default.
    url: where to download the official file when it is not found locally
      (needs a network); None never touches the network.
    version: the builder version to read; None or the current one prepares
      as above, an older one is read as prepared (see `older_version`).

  Returns:
    The prepared builder; `as_data_source()` reads it.
  """
  if source not in SOURCES:
    raise errors.DataError(f"config.data.source={source!r} is invalid: "
                           f"must be one of {SOURCES}.")
  if version is not None and version != str(BetavaeDsprites.VERSION):
    return older_version(version, source, data_dir)
  if path and not os.path.isfile(path):
    raise errors.DataError(
        f"config.data.path={path!r} does not exist; it should be the "
        f"official {dsprites_file.OFFICIAL_NAMES[0]} (or .hdf5).")
  official = _builder("official", data_dir, None)
  manual_dir = os.fspath(official.data_dir_root / "downloads" / "manual")
  path = path or dsprites_file.find_official(manual_dir)
  if url and source != "render" and not (path or official.is_prepared()):
    path = download_official(url, os.fspath(official.data_dir_root /
                                            "downloads"), source == "file")
  use_official = source == "file" or (
      source == "auto" and (path or official.is_prepared()))
  if use_official and not (path or official.is_prepared()):
    raise errors.DataError(
        f"config.data.source='file' needs the official dSprites file: set "
        f"config.data.path, put {dsprites_file.OFFICIAL_NAMES[0]} in "
        f"{manual_dir}, or set config.data.download=True where a network "
        f"exists.")
  make = functools.partial(_builder, "official" if use_official else
                           "rendered", data_dir, path if use_official else None)
  logging.info(
      "dSprites (source=%s): %s, in %s.", source,
      "the official images" if use_official else
      "the offline renderer's stand-in (set config.data.path to the official "
      "file, or config.data.download=True, to train on the real images)",
      make().data_dir)
  return prepare(make)


def older_version(version: str, source: str,
                  data_dir: str | None) -> tfds.core.DatasetBuilder:
  """An older betavae_dsprites version, read from where it was prepared.

  This code renders only the current version, so an older one (a study
  pinned to the data it started on) must already be prepared in the data
  dir; source 'auto' reads the official config's if there, else the
  rendered one's.
  """
  if version not in BetavaeDsprites.RELEASE_NOTES:
    raise errors.DataError(
        f"config.data.version={version!r} is not a betavae_dsprites version:"
        f" known are {', '.join(BetavaeDsprites.RELEASE_NOTES)}.")
  root = _builder("official", data_dir, None).data_dir_root
  configs = {"file": ("official",), "render": ("rendered",)}.get(
      source, ("official", "rendered"))
  paths = [os.path.join(root, BetavaeDsprites.name, config, version)
           for config in configs]
  for path in paths:
    if os.path.isfile(os.path.join(path, "dataset_info.json")):
      logging.info("dSprites: reading version %s as prepared in %s.",
                   version, path)
      return tfds.builder_from_directory(path)
  raise errors.DataError(
      f"config.data.version={version!r} is not prepared in "
      f"{' or '.join(paths)}; this code prepares only "
      f"{BetavaeDsprites.VERSION} (unset config.data.version to use it).")


def download_official(url: str, download_dir: str,
                      required: bool) -> str | None:
  """The official file fetched by tfds' download manager, or None.

  tfds keeps the file in `download_dir`. A failed download is an error
  when the official data is `required`; otherwise it is logged and the
  caller falls back to the renderer. tfds retries an unreachable host for
  minutes first, which is why downloading is opt-in.
  """
  manager = tfds.download.DownloadManager(download_dir=download_dir)
  before = set(os.listdir(download_dir)) if os.path.isdir(download_dir) else ()
  try:
    return os.fspath(manager.download(url))
  except Exception as error:  # pylint: disable=broad-except
    # tfds raises DownloadError, requests' errors or OSError by cause, and
    # leaves its temporary download dir behind: remove it.
    for name in set(os.listdir(download_dir)) - set(before):
      if ".tmp." in name:
        shutil.rmtree(os.path.join(download_dir, name), ignore_errors=True)
    message = (f"Could not download the official dSprites file from {url}: "
               f"{type(error).__name__}: {error}")
    if required:
      raise errors.DataError(message) from error
    logging.warning("%s. Using the offline renderer instead.", message)
    return None


def prepare(make: Callable[[], BetavaeDsprites]) -> BetavaeDsprites:
  """Prepares `make()` unless done; tolerates a concurrent process.

  Two runs started together on a fresh data dir both prepare; the second
  to finish cannot rename its incomplete dir over the first's, and then
  simply reads the first's data. A killed preparation's incomplete dir is
  removed by the next one (`remove_stale_incomplete`).
  """
  builder = make()
  if not builder.is_prepared():
    remove_stale_incomplete(os.fspath(builder.data_dir))
  try:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        try_download_gcs=False))
  except OSError:
    builder = make()
    if not builder.is_prepared():
      raise
    logging.info("dSprites: another process prepared %s meanwhile.",
                 builder.data_dir)
  return builder


def remove_stale_incomplete(data_dir: str,
                            stale_after_s: float = STALE_INCOMPLETE_S) -> None:
  """Deletes tfds' incomplete dirs of `data_dir` that nobody writes to.

  tfds prepares into `<parent>/incomplete.XXXXXX_<version>` and renames it
  when done; a killed preparation leaves it behind (hundreds of MB) for
  ever. One whose newest file is older than `stale_after_s` is no live
  preparation's: those write continuously.
  """
  parent, version = os.path.split(data_dir.rstrip("/"))
  try:
    names = os.listdir(parent)
  except OSError:  # Not prepared yet, or not a local path.
    return
  now = time.time()
  for name in names:
    path = os.path.join(parent, name)
    if not (name.startswith("incomplete.") and name.endswith("_" + version)
            and os.path.isdir(path)):
      continue
    times = [os.path.getmtime(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files]
    if now - max(times + [os.path.getmtime(path)]) > stale_after_s:
      logging.info("dSprites: removing %s, left by a preparation that "
                   "stopped.", path)
      shutil.rmtree(path, ignore_errors=True)


def _builder(config: str, data_dir: str | None,
             path: str | None) -> BetavaeDsprites:
  return BetavaeDsprites(config=config, data_dir=data_dir, source_path=path)


def _manual_dir(dl_manager: tfds.download.DownloadManager) -> str | None:
  """tfds' manual dir, or None where it is missing or empty."""
  try:
    return os.fspath(dl_manager.manual_dir)
  except AssertionError:
    return None


def _rendered_chunk(start: int, stop: int) -> dsprites_file.Chunk:
  factors = dsprites.DSprites().index_to_factors(np.arange(start, stop))
  return (dsprites_render.render(factors), dsprites.official_classes(factors),
          dsprites.official_values(factors))
