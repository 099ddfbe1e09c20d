"""Ground-truth datasets: dSprites (official file or renderer), synthetic, tfds.

Importing this package loads neither tensorflow-datasets nor Pillow, so the
train loop stays light; `dsprites_builder` and `Shapes3D` are loaded on first
use. Importing `betavae_jax.datasets.dsprites_builder` registers the
`betavae_dsprites` tfds builder, so `tfds.builder("betavae_dsprites/rendered")`
works too. Nothing here imports TensorFlow.
"""

import importlib

from betavae_jax.datasets.dsprites import DSprites
from betavae_jax.datasets.dsprites_render import render as render_dsprites
from betavae_jax.datasets.errors import DataError
from betavae_jax.datasets.ground_truth import GroundTruthData
from betavae_jax.datasets.synthetic import Synthetic

__all__ = ["DSprites", "DataError", "GroundTruthData", "Shapes3D", "Synthetic",
           "dsprites_builder", "render_dsprites"]

# Attributes that import tensorflow-datasets, so are loaded on first use.
_LAZY = {"dsprites_builder": ("dsprites_builder", None),
         "Shapes3D": ("tfds_images", "Shapes3D")}


def __getattr__(name: str):
  if name not in _LAZY:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module_name, attribute = _LAZY[name]
  module = importlib.import_module(f"{__name__}.{module_name}")
  return module if attribute is None else getattr(module, attribute)
