"""Reading and validating the official dSprites file (.npz or .hdf5).

The images are streamed in chunks straight out of the file (737,280 x 64 x 64
bytes would be 3 GB in memory) and every chunk is checked against the
official layout: shapes and dtypes, values 0/1, latents in grid order. Any
defect raises a `DataError` naming the file, what was expected and what was
found, before a half-written dataset could be kept.

The pickled `metadata` entry is required but never unpickled: unpickling a
file runs code from it, and nothing here needs the metadata.
"""

from collections.abc import Iterator
import os
import zipfile
import zlib

import numpy as np

from betavae_jax.datasets import dsprites
from betavae_jax.datasets import errors

OFFICIAL_NAMES = ("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
                  "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5")
_NPZ_KEYS = ("imgs", "latents_classes", "latents_values", "metadata")
_HDF5_KEYS = ("imgs", "latents/classes", "latents/values")
_CHUNK = 8192
# What a damaged or foreign file raises while it is opened or streamed.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}

Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]


def find_official(directory: str | None) -> str | None:
  """The official file in `directory` (e.g. the tfds manual dir), if any."""
  for name in OFFICIAL_NAMES if directory else ():
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  return None


def read_chunks(path: str,
                num_examples: int = dsprites.NUM_EXAMPLES) -> Iterator[Chunk]:
  """Yields validated (images, latents_classes, latents_values) chunks.

  Args:
    path: the official .npz or .hdf5 file.
    num_examples: rows expected; fewer than the full grid only in tests,
      which write the first rows of the official grid.

  Yields:
    (n, 64, 64, 1) uint8 images, (n, 6) int64 classes and (n, 6) float64
    values, in file (grid) order.
  """
  if not os.path.isfile(path):
    raise errors.DataError(f"The dSprites file {path} does not exist.")
  if path.endswith(".npz"):
    yield from _read_npz(path, num_examples)
  elif path.endswith((".hdf5", ".h5")):
    yield from _read_hdf5(path, num_examples)
  else:
    raise errors.DataError(f"{path}: expected the official dSprites .npz or "
                           f".hdf5 file; found the suffix "
                           f"{os.path.splitext(path)[1]!r}.")


def _read_npz(path: str, num_examples: int) -> Iterator[Chunk]:
  """Streams the npz's `imgs.npy` member; loads the small latents."""
  if not zipfile.is_zipfile(path):  # Also a truncated archive's case.
    raise errors.DataError(f"{path} is corrupt or truncated: expected the "
                           f"official dSprites npz (a zip archive); found "
                           f"no readable zip directory.")
  try:
    with np.load(path, allow_pickle=False, encoding="latin1") as npz:
      _check_keys(path, npz.files, _NPZ_KEYS)
      classes, values = _checked_latents(path, npz["latents_classes"],
                                         npz["latents_values"], num_examples)
      with npz.zip.open("imgs.npy") as member:
        images = _npy_chunks(path, member, num_examples)
        yield from _zip_latents(path, images, classes, values)
  except errors.DataError:
    raise
  except _READ_ERRORS as e:
    raise errors.DataError(f"{path} is corrupt or truncated: expected the "
                           f"official dSprites npz archive; reading it failed "
                           f"with {type(e).__name__}: {e}") from e


def _npy_chunks(path: str, member, num_examples: int) -> Iterator[np.ndarray]:
  """Reads the .npy header, then the image rows chunk by chunk."""
  version = np.lib.format.read_magic(member)
  if version not in _NPY_HEADERS:
    raise errors.DataError(f"{path}: imgs.npy has the unsupported .npy "
                           f"format version {version}.")
  shape, fortran, dtype = _NPY_HEADERS[version](member)
  expected = (num_examples, 64, 64)
  if shape != expected or dtype != np.uint8 or fortran:
    raise errors.DataError(
        f"{path}: expected imgs of shape {expected} and dtype uint8 in C "
        f"order; found shape {shape}, dtype {dtype}"
        f"{' in Fortran order' if fortran else ''}.")
  row = 64 * 64
  for start in range(0, num_examples, _CHUNK):
    n = min(_CHUNK, num_examples - start)
    data = member.read(n * row)
    if len(data) != n * row:
      raise errors.DataError(
          f"{path} is truncated: expected {num_examples} images; the data "
          f"ends within image {start + len(data) // row}.")
    yield np.frombuffer(data, np.uint8).reshape(n, 64, 64)


def _read_hdf5(path: str, num_examples: int) -> Iterator[Chunk]:
  """Reads the hdf5 layout (imgs, latents/classes, latents/values)."""
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise errors.DataError(
        f"Reading {path} needs h5py (pip install h5py); or use the official "
        f".npz file instead.") from e
  try:
    with h5py.File(path, "r") as f:
      _check_keys(path, _hdf5_keys(f), _HDF5_KEYS)
      classes, values = _checked_latents(path, f["latents/classes"][()],
                                         f["latents/values"][()],
                                         num_examples)
      imgs = f["imgs"]
      expected = (num_examples, 64, 64)
      if imgs.shape != expected or imgs.dtype != np.uint8:
        raise errors.DataError(
            f"{path}: expected imgs of shape {expected} and dtype uint8; "
            f"found shape {imgs.shape}, dtype {imgs.dtype}.")
      images = (imgs[i:i + _CHUNK] for i in range(0, num_examples, _CHUNK))
      yield from _zip_latents(path, images, classes, values)
  except errors.DataError:
    raise
  except _READ_ERRORS as e:
    raise errors.DataError(f"{path} is corrupt or truncated: expected a "
                           f"readable hdf5 file; reading it failed with: "
                           f"{e}") from e


def _hdf5_keys(f) -> list[str]:
  """Every dataset path in an open h5py file."""
  keys = []
  f.visit(keys.append)
  return keys


def _check_keys(path: str, found, expected) -> None:
  missing = sorted(set(expected) - set(found))
  if missing:
    raise errors.DataError(
        f"{path}: expected the official dSprites entries {list(expected)}; "
        f"found {sorted(found)} (missing {missing}).")


def _checked_latents(path: str, classes: np.ndarray, values: np.ndarray,
                     num_examples: int) -> tuple[np.ndarray, np.ndarray]:
  """Latents must be the official grid, in order (posY fastest)."""
  for name, array in (("latents_classes", classes),
                      ("latents_values", values)):
    if array.shape != (num_examples, 6):
      raise errors.DataError(f"{path}: expected {name} of shape "
                             f"{(num_examples, 6)}; found {array.shape}.")
  factors = dsprites.DSprites().index_to_factors(np.arange(num_examples))
  bad = np.flatnonzero(np.any(classes != dsprites.official_classes(factors),
                              axis=1))
  if bad.size:
    raise errors.DataError(
        f"{path}: expected latents_classes in the official grid order; row "
        f"{bad[0]} is {classes[bad[0]].tolist()}.")
  bad = np.flatnonzero(~np.all(np.isclose(
      values, dsprites.official_values(factors), atol=1e-6), axis=1))
  if bad.size:
    raise errors.DataError(
        f"{path}: latents_values row {bad[0]} is {values[bad[0]].tolist()}; "
        f"expected {dsprites.official_values(factors[bad[:1]])[0].tolist()}.")
  return classes.astype(np.int64), values.astype(np.float64)


def _zip_latents(path: str, images: Iterator[np.ndarray],
                 classes: np.ndarray, values: np.ndarray) -> Iterator[Chunk]:
  """Pairs image chunks with their latents; images must be 0/1."""
  start = 0
  for chunk in images:
    if chunk.max(initial=0) > 1:
      row = start + int(np.argmax(chunk.reshape(len(chunk), -1).max(1) > 1))
      raise errors.DataError(f"{path}: expected image values 0/1 (not "
                             f"0/255); image {row} has values up to "
                             f"{chunk.max()}.")
    stop = start + len(chunk)
    yield chunk[..., None], classes[start:stop], values[start:stop]
    start = stop
