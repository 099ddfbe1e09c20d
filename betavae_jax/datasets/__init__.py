"""Ground-truth datasets: dSprites (official file or renderer), synthetic, tfds.

Importing this package registers the `betavae_dsprites` tfds builder, so
`tfds.builder("betavae_dsprites/rendered")` works too. It imports
tensorflow-datasets but never TensorFlow.
"""

from betavae_jax.datasets import dsprites_builder  # Registers the builder.
from betavae_jax.datasets.dsprites import DSprites
from betavae_jax.datasets.dsprites_render import render as render_dsprites
from betavae_jax.datasets.errors import DataError
from betavae_jax.datasets.ground_truth import GroundTruthData
from betavae_jax.datasets.synthetic import Synthetic
from betavae_jax.datasets.tfds_images import Shapes3D

__all__ = ["DSprites", "DataError", "GroundTruthData", "Shapes3D", "Synthetic",
           "dsprites_builder", "render_dsprites"]
