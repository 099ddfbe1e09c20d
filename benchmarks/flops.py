"""What the conv model costs, and what the machine can do.

FLOP counts of the default conv model, layer by layer, and the measured
float32 matmul rate they are compared with: `benchmarks.train_speed`'s
"of matmul peak" column and `benchmarks.conv_passes`' per-layer table.
"""

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from betavae_jax import models


@dataclasses.dataclass(frozen=True)
class ConvLayer:
  """One stride-2 layer of the conv model, as the train step runs it."""

  name: str  # The flax module path, e.g. "encoder/Conv_1".
  transposed: bool
  in_shape: tuple[int, int, int]  # (height, width, channels), padded.
  features: int
  kernel_size: int

  @property
  def macs_per_image(self) -> int:
    """Forward multiply-adds: k*k*C_in*C_out per pixel of the smaller
    side (a transposed conv mirrors a strided one)."""
    h, w, c = self.in_shape
    if not self.transposed:
      h, w = h // 2, w // 2
    return h * w * self.kernel_size**2 * c * self.features


def conv_layers(model_config: ml_collections.ConfigDict,
                image_shape: tuple[int, int, int]) -> list[ConvLayer]:
  """The conv model's encoder convolutions, then its decoder's transposed
  ones, at the sizes the model runs them (images padded as the encoder
  pads them)."""
  channels, k = list(model_config.conv_channels), model_config.kernel_size
  factor = 2**len(channels)
  h, w, c_in = image_shape
  h, w = models.padded_size(h, factor), models.padded_size(w, factor)
  layers = []
  for i, c_out in enumerate(channels):
    layers.append(ConvLayer(f"encoder/Conv_{i}", False, (h, w, c_in), c_out,
                            k))
    h, w, c_in = h // 2, w // 2, c_out
  for i, c_out in enumerate(channels[-2::-1] + [image_shape[-1]]):
    layers.append(ConvLayer(f"decoder/ConvTranspose_{i}", True,
                            (h, w, c_in), c_out, k))
    h, w, c_in = 2 * h, 2 * w, c_out
  return layers


def model_flops_per_image(model_config: ml_collections.ConfigDict,
                          image_shape: tuple[int, int, int]) -> float:
  """Train-step FLOPs per image of the conv model: 3 x 2 x forward MACs
  (the backward pass costs twice the forward: input and kernel
  gradients)."""
  layers = conv_layers(model_config, image_shape)
  macs = sum(layer.macs_per_image for layer in layers)
  flat = math.prod(layers[len(layers) // 2].in_shape)  # The decoder's first.
  sizes = list(model_config.dense_sizes)
  encoder = [flat] + sizes + [2 * model_config.latent_dim]
  decoder = [model_config.latent_dim] + sizes + [flat]
  for widths in (encoder, decoder):
    macs += sum(a * b for a, b in zip(widths[:-1], widths[1:]))
  return 6.0 * macs


def matmul_gflops(size: int, repeats: int = 5) -> float:
  """The machine's float32 matmul rate through XLA (median of runs), at
  XLA's default precision, the one the train step uses (TF32 on recent
  NVIDIA GPUs). Random operands: zeros or ones can run faster."""
  a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
  f = jax.jit(jnp.matmul)
  f(a, a).block_until_ready()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    f(a, a).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * size**3 / float(np.median(times)) / 1e9
