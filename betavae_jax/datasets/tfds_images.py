"""Other tensorflow-datasets image datasets by name (mnist, shapes3d, ...).

These builders store `Image` features, whose encoding and decoding need
TensorFlow, so they come with the optional extra (pip install -e '.[tf]').
They are prepared separately, as ArrayRecord, never downloaded at train time:

  tfds build shapes3d --file_format=array_record [--data_dir=...]

Images are centre-cropped to a square and resized to `image_size`. Shapes3D
also gets its ground-truth interface: its records are not in grid order, so
the grid index of each record is read from its labels once per load.
"""

from collections.abc import Callable
import difflib
import importlib.util

import numpy as np
import tensorflow_datasets as tfds
import tqdm

from betavae_jax.datasets import errors
from betavae_jax.datasets import ground_truth
from betavae_jax.datasets import sources

TF_EXTRA = "pip install -e '.[tf]'"
OWN_NAMES = ("dsprites", "synthetic")


def check_name(name: str) -> None:
  """Fails clearly on an unknown name, or on a tfds name without TF."""
  tfds_names = tfds.list_builders(with_community_datasets=False)
  if name not in tfds_names:
    close = difflib.get_close_matches(name, [*OWN_NAMES, *tfds_names], n=5)
    raise errors.DataError(
        f"Unknown dataset {name!r}: config.data.name must be one of "
        f"{list(OWN_NAMES)} or a tensorflow-datasets image dataset "
        f"({len(tfds_names)} names, e.g. mnist, shapes3d, celeb_a; "
        f"tfds.list_builders() lists them)"
        + (f". Did you mean {close}?" if close else "."))
  if importlib.util.find_spec("tensorflow") is None:
    raise errors.DataError(
        f"Dataset {name!r} is read through tensorflow-datasets and needs "
        f"TensorFlow: {TF_EXTRA}. (dsprites and synthetic need no TF.)")


def load(name: str, data_dir: str | None, image_size: int,
         hold: Callable[[sources.ImageSource], sources.ImageSource] | None
         = None
         ) -> tuple[sources.ImageSource, ground_truth.GroundTruthData | None]:
  """The train split of a prepared tfds dataset, and Shapes3D's factors.

  `hold`, if given, replaces the record source before anything reads it
  (the input pipeline's `config.data.in_memory`).
  """
  check_name(name)
  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    raise errors.DataError(
        f"{name} is not prepared in {builder.data_dir_root}. Prepare it "
        f"once with: tfds build {name} --file_format=array_record "
        f"--data_dir={builder.data_dir_root}")
  try:
    records = builder.as_data_source(split="train")
  except NotImplementedError as e:
    raise errors.DataError(
        f"{name} in {builder.data_dir_root} is not stored as ArrayRecord; "
        f"prepare it again with --file_format=array_record.") from e
  images = ImageRecordSource(records, image_size)
  if hold is not None:
    images = hold(images)
  if name != "shapes3d":
    return images, None
  labels = builder.as_data_source(
      split="train", decoders={"image": tfds.decode.SkipDecoding()})
  return images, Shapes3D(images, _shapes3d_labels(labels))


class ImageRecordSource:
  """Decoded tfds images, centre-cropped and resized to a square."""

  def __init__(self, records, image_size: int):
    self._records = records
    self._size = image_size
    channels = records.dataset_info.features["image"].shape[-1]
    self.image_shape = (image_size, image_size, channels)

  def __len__(self) -> int:
    return len(self._records)

  def read(self, indices: np.ndarray) -> np.ndarray:
    examples = self._records.__getitems__(np.asarray(indices).tolist())
    return np.stack([crop_resize(e["image"], self._size) for e in examples])


def crop_resize(image: np.ndarray, size: int) -> np.ndarray:
  """Centre-crops an (H, W, C) uint8 image to a square, then resizes it."""
  h, w, c = image.shape
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  square = image[top:top + side, left:left + side]
  if side == size:
    return square
  # Pillow comes with the [tf] extra; dSprites and synthetic never need it.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pil = Image.fromarray(square[..., 0] if c == 1 else square)
  resized = np.asarray(pil.resize((size, size), Image.BILINEAR))
  return resized.reshape(size, size, c)


class Shapes3D(ground_truth.GroundTruthData):
  """3D Shapes (Burgess & Kim 2018): 480,000 images on a 6-factor grid."""

  name = "shapes3d"
  factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape",
                  "orientation")
  factor_sizes = (10, 10, 10, 8, 4, 15)
  pixel_max = 255

  def __init__(self, images: sources.ImageSource, labels: np.ndarray):
    """`labels[r]` holds the factor classes of record r (any order)."""
    if labels.shape != (self.num_examples, self.num_factors):
      raise ValueError(f"expected labels of shape "
                       f"{(self.num_examples, self.num_factors)}; got "
                       f"{labels.shape}.")
    index = self.factors_to_index(labels)
    if np.unique(index).size != self.num_examples:
      raise ValueError("Shapes3D labels must cover every grid cell once.")
    self._record = np.empty(self.num_examples, np.int64)
    self._record[index] = np.arange(len(labels))
    self._images = images
    self.image_shape = images.image_shape

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    return self._images.read(self._record[self.factors_to_index(factors)])


def _shapes3d_labels(records) -> np.ndarray:
  """(N, 6) factor classes of each record, in Shapes3D's factor order."""
  keys = [f"label_{name}" for name in Shapes3D.factor_names]
  return np.array([[r[k] for k in keys] for r in tqdm.tqdm(
      records, desc="Shapes3D factor index", unit=" records")], np.int64)
