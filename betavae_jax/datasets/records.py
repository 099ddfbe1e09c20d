"""Our tfds records, written and read in bulk in tfds' own format.

Every feature is a `tfds.features.Tensor` (no `Image`, which needs
TensorFlow) stored in a `tf.train.Example` exactly as tfds stores it: raw
bytes (encoding 'bytes', which also keeps float64 exact) or an int64 list
('none'). ArrayRecord compresses each record (zstd), so raw image bytes cost
no disk. tfds' generic path encodes and decodes one example at a time through
Python feature connectors, both ways, which would make preparing take
minutes and cap reading far below what training needs (docs/data.md).
This module builds and parses the same protos directly: tfds' own
`as_data_source()` decodes what we write (tests check it), and we read images
back several times faster than its per-example decoder.
"""

from collections.abc import Iterator, Mapping, Sequence
import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2

_ENCODINGS = ("none", "bytes")


@dataclasses.dataclass(frozen=True)
class TensorSpec:
  """One feature: its per-example shape, dtype and tfds encoding."""

  shape: tuple[int, ...]
  dtype: type
  encoding: str = "bytes"

  def __post_init__(self):
    if self.encoding not in _ENCODINGS:
      raise ValueError(f"encoding must be one of {_ENCODINGS}.")
    if self.encoding == "none" and not np.issubdtype(self.dtype, np.integer):
      raise ValueError("Only integer features may use encoding 'none'.")

  def feature(self) -> tfds.features.Tensor:
    """The tfds feature connector that reads this spec back."""
    return tfds.features.Tensor(shape=self.shape, dtype=self.dtype,
                                encoding=self.encoding)


Specs = Mapping[str, TensorSpec]


def features_dict(specs: Specs) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict(
      {name: spec.feature() for name, spec in specs.items()})


def serialize_rows(specs: Specs,
                   columns: Mapping[str, np.ndarray]) -> Iterator[bytes]:
  """Yields one serialized tf.train.Example per row of `columns`."""
  n = len(next(iter(columns.values())))
  encoded = {name: _encode_column(spec, columns[name], n)
             for name, spec in specs.items()}
  for i in range(n):
    example = tf_example_pb2.Example()
    feature = example.features.feature
    for name, spec in specs.items():
      if spec.encoding == "none":
        feature[name].int64_list.value.extend(encoded[name][i])
      else:
        feature[name].bytes_list.value.append(encoded[name][i])
    yield example.SerializeToString()


def _encode_column(spec: TensorSpec, column: np.ndarray,
                   n: int) -> Sequence:
  """Per-row payloads: int lists, or the bytes of each row."""
  column = np.ascontiguousarray(column, dtype=spec.dtype)
  if column.shape != (n, *spec.shape):
    raise ValueError(f"expected rows of shape {spec.shape} and dtype "
                     f"{np.dtype(spec.dtype)}; got {column.shape[1:]}.")
  if spec.encoding == "none":
    return column.reshape(n, -1).tolist()
  return [row.tobytes() for row in column]


def decode_column(records: Sequence[bytes], name: str,
                  spec: TensorSpec) -> np.ndarray:
  """Parses feature `name` of serialized examples into one (N, ...) array."""
  if spec.encoding == "none":
    raise ValueError("decode_column reads bytes-encoded features only.")
  out = np.empty((len(records), np.prod(spec.shape, dtype=int)
                  * np.dtype(spec.dtype).itemsize), np.uint8)
  for i, record in enumerate(records):
    out[i] = np.frombuffer(tf_example_pb2.Example.FromString(
        record).features.feature[name].bytes_list.value[0], np.uint8)
  return out.view(spec.dtype).reshape(len(records), *spec.shape)


class RecordSource:
  """The images of a prepared tfds split, read through `as_data_source`.

  The records come from tfds' ArrayRecord data source as raw bytes and only
  the image feature is parsed, in bulk (see the module docstring).
  """

  def __init__(self, builder: tfds.core.DatasetBuilder, split: str,
               image_key: str, spec: TensorSpec):
    self._records = builder.as_data_source(
        split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    self._key, self._spec = image_key, spec
    self.image_shape = spec.shape

  def __len__(self) -> int:
    return len(self._records)

  def read(self, indices: np.ndarray) -> np.ndarray:
    records = self._records.__getitems__(
        np.asarray(indices, dtype=np.int64).tolist())
    return decode_column(records, self._key, self._spec)
