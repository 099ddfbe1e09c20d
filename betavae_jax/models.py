"""Encoder and decoder modules of the beta-VAE.

The modules are pure: they map images to the parameters of q(z|x) and latents
to the parameters of p(x|z), and nothing else. Losses, optimisers, data and
configs live elsewhere, so the same modules serve training, evaluation and
other people's research code.
"""

from collections.abc import Callable, Sequence
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from betavae_jax import conv_ops

Dtype = Any
Initializer = Callable[..., jax.Array]

ARCHITECTURES = ("conv", "mlp")
CONV_IMPLS = ("fast", "flax")  # conv_ops layers, or flax's own (reference).
# flax's own layers: what a config without model.conv_impl (runs from before
# the field) trained with, and what the modules built directly use. New
# configs name theirs (base_config: 'fast').
REFERENCE_CONV_IMPL = "flax"
# Initialisers of every conv and dense kernel (`model.kernel_init`), by
# name. He (Kaiming) scaling keeps the activations' variance through ReLU
# layers, which halve it; LeCun, flax's default, does not.
KERNEL_INITS = {
    "lecun_normal": nn.initializers.lecun_normal,
    "lecun_uniform": nn.initializers.lecun_uniform,
    "he_normal": nn.initializers.he_normal,
    "he_uniform": nn.initializers.he_uniform,
    "glorot_normal": nn.initializers.glorot_normal,
    "glorot_uniform": nn.initializers.glorot_uniform,
}
# flax's default: what a config without model.kernel_init trained with.
REFERENCE_KERNEL_INIT = "lecun_normal"


def reparameterize(key: jax.Array, mean: jax.Array,
                   logvar: jax.Array) -> jax.Array:
  """Samples z = mean + sigma * eps so gradients flow through mean, logvar."""
  eps = jax.random.normal(key, mean.shape, mean.dtype)
  return mean + jnp.exp(0.5 * logvar) * eps


def padded_size(size: int, factor: int) -> int:
  """Smallest multiple of `factor` that holds `size` pixels."""
  return -(-size // factor) * factor


def conv_layer(impl: str, features: int, kernel_size: int, dtype: Dtype,
               kernel_init: Initializer = nn.initializers.lecun_normal()
               ) -> nn.Module:
  """A 'SAME' stride-2 conv; both impls name their parameters alike."""
  if impl == "fast":
    return conv_ops.Conv(features, kernel_size, dtype=dtype,
                         kernel_init=kernel_init)
  return nn.Conv(features, (kernel_size,) * 2, strides=2, padding="SAME",
                 dtype=dtype, kernel_init=kernel_init)


def conv_transpose_layer(
    impl: str, features: int, kernel_size: int, dtype: Dtype,
    kernel_init: Initializer = nn.initializers.lecun_normal()) -> nn.Module:
  """A 'SAME' stride-2 transposed conv (kernel not flipped, as flax)."""
  if impl == "fast":
    return conv_ops.ConvTranspose(features, kernel_size, dtype=dtype,
                                  kernel_init=kernel_init)
  return nn.ConvTranspose(features, (kernel_size,) * 2, strides=(2, 2),
                          padding="SAME", dtype=dtype, kernel_init=kernel_init)


def dense_layer(features: int, dtype: Dtype,
                kernel_init: Initializer) -> nn.Dense:
  """A dense layer with the model's compute dtype and kernel initialiser."""
  return nn.Dense(features, dtype=dtype, kernel_init=kernel_init)


class ConvEncoder(nn.Module):
  """Strided 4x4 convolutions, dense layers, then (mean, logvar).

  Images whose side the stride stack does not divide (28x28 MNIST) are
  zero-padded at the bottom and right, the usual "28 padded to 32" choice.
  """

  latent_dim: int
  channels: Sequence[int] = (32, 32, 64, 64)
  dense_sizes: Sequence[int] = (256,)
  kernel_size: int = 4
  dtype: Dtype = jnp.float32
  conv_impl: str = REFERENCE_CONV_IMPL
  kernel_init: Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    factor = 2**len(self.channels)
    h, w = x.shape[-3:-1]
    pad_h, pad_w = padded_size(h, factor) - h, padded_size(w, factor) - w
    if pad_h or pad_w:
      x = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + [(0, pad_h), (0, pad_w),
                                                 (0, 0)])
    x = x.astype(self.dtype)
    for c in self.channels:
      layer = conv_layer(self.conv_impl, c, self.kernel_size, self.dtype,
                         self.kernel_init)
      x = nn.relu(layer(x))
    x = x.reshape(x.shape[:-3] + (-1,))
    for size in self.dense_sizes:
      x = nn.relu(dense_layer(size, self.dtype, self.kernel_init)(x))
    stats = dense_layer(2 * self.latent_dim, self.dtype, self.kernel_init)(x)
    mean, logvar = jnp.split(stats.astype(jnp.float32), 2, axis=-1)
    return mean, logvar


class ConvDecoder(nn.Module):
  """Mirror of `ConvEncoder`: dense layers, then 4x4 transposed convolutions.

  Returns per-pixel parameters of p(x|z) (Bernoulli logits or Gaussian
  means) for an image of `image_shape`, cropping any encoder padding.
  """

  image_shape: tuple[int, int, int]
  channels: Sequence[int] = (32, 32, 64, 64)
  dense_sizes: Sequence[int] = (256,)
  kernel_size: int = 4
  dtype: Dtype = jnp.float32
  conv_impl: str = REFERENCE_CONV_IMPL
  kernel_init: Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    height, width, out_channels = self.image_shape
    factor = 2**len(self.channels)
    base_h = padded_size(height, factor) // factor
    base_w = padded_size(width, factor) // factor
    x = z.astype(self.dtype)
    for size in self.dense_sizes:
      x = nn.relu(dense_layer(size, self.dtype, self.kernel_init)(x))
    top = self.channels[-1]
    x = nn.relu(dense_layer(base_h * base_w * top, self.dtype,
                            self.kernel_init)(x))
    x = x.reshape(x.shape[:-1] + (base_h, base_w, top))
    # Transposed convolutions walk the encoder's channels back down; the last
    # one maps to the image's channels.
    widths = list(self.channels[-2::-1]) + [out_channels]
    for i, c in enumerate(widths):
      x = conv_transpose_layer(self.conv_impl, c, self.kernel_size,
                               self.dtype, self.kernel_init)(x)
      if i < len(widths) - 1:
        x = nn.relu(x)
    return x[..., :height, :width, :].astype(jnp.float32)


class MLPEncoder(nn.Module):
  """The fully connected encoder of the beta-VAE paper (4096-1200-1200)."""

  latent_dim: int
  hidden_sizes: Sequence[int] = (1200, 1200)
  dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = x.reshape(x.shape[:-3] + (-1,)).astype(self.dtype)
    for size in self.hidden_sizes:
      x = nn.relu(dense_layer(size, self.dtype, self.kernel_init)(x))
    stats = dense_layer(2 * self.latent_dim, self.dtype, self.kernel_init)(x)
    mean, logvar = jnp.split(stats.astype(jnp.float32), 2, axis=-1)
    return mean, logvar


class MLPDecoder(nn.Module):
  """The fully connected decoder of the beta-VAE paper (1200 x 3, tanh)."""

  image_shape: tuple[int, int, int]
  hidden_sizes: Sequence[int] = (1200, 1200, 1200)
  dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    x = z.astype(self.dtype)
    for size in self.hidden_sizes:
      x = nn.tanh(dense_layer(size, self.dtype, self.kernel_init)(x))
    x = dense_layer(math.prod(self.image_shape), self.dtype,
                    self.kernel_init)(x)
    return x.reshape(x.shape[:-1] + self.image_shape).astype(jnp.float32)


class BetaVAE(nn.Module):
  """Encoder, reparameterised sample and decoder.

  `train=True` draws z from q(z|x) with the 'latent' RNG stream; `train=False`
  uses the posterior mean, for deterministic reconstructions.
  """

  encoder: nn.Module
  decoder: nn.Module

  def __call__(self, x: jax.Array, *,
               train: bool) -> tuple[jax.Array, dict[str, jax.Array]]:
    mean, logvar = self.encoder(x)
    z = reparameterize(self.make_rng("latent"), mean, logvar) if train else mean
    return self.decoder(z), {"mean": mean, "logvar": logvar, "z": z}

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)


def create_model(config: ml_collections.ConfigDict,
                 image_shape: tuple[int, int, int]) -> BetaVAE:
  """Builds the model named by `config.name` for images of `image_shape`."""
  dtype = jnp.dtype(config.dtype)
  init_name = kernel_init_of(config)
  if init_name not in KERNEL_INITS:
    raise ValueError(f"model.kernel_init must be one of "
                     f"{tuple(KERNEL_INITS)}; got {init_name!r}.")
  kernel_init = KERNEL_INITS[init_name]()
  if config.name == "conv":
    conv_impl = conv_impl_of(config)
    if conv_impl not in CONV_IMPLS:
      raise ValueError(f"model.conv_impl must be one of {CONV_IMPLS}; "
                       f"got {conv_impl!r}.")
    shared = dict(channels=tuple(config.conv_channels),
                  dense_sizes=tuple(config.dense_sizes),
                  kernel_size=config.kernel_size, dtype=dtype,
                  conv_impl=conv_impl, kernel_init=kernel_init)
    return BetaVAE(ConvEncoder(config.latent_dim, **shared),
                   ConvDecoder(tuple(image_shape), **shared))
  if config.name == "mlp":
    return BetaVAE(
        MLPEncoder(config.latent_dim, tuple(config.encoder_hidden),
                   dtype=dtype, kernel_init=kernel_init),
        MLPDecoder(tuple(image_shape), tuple(config.decoder_hidden),
                   dtype=dtype, kernel_init=kernel_init))
  raise ValueError(f"model.name must be one of {ARCHITECTURES}; "
                   f"got {config.name!r}.")


def conv_impl_of(config: ml_collections.ConfigDict) -> str:
  """The model config's conv_impl; REFERENCE_CONV_IMPL where it has none."""
  return config.get("conv_impl", REFERENCE_CONV_IMPL)


def kernel_init_of(config: ml_collections.ConfigDict) -> str:
  """The model config's kernel_init; REFERENCE_KERNEL_INIT where it has none."""
  return config.get("kernel_init", REFERENCE_KERNEL_INIT)


def init_params(model: BetaVAE, image_shape: tuple[int, int, int],
                key: jax.Array) -> Any:
  """One model's initial parameters (also under `jax.eval_shape`)."""
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  return model.init({"params": key, "latent": key}, x, train=True)["params"]


def num_params(config: ml_collections.ConfigDict,
               image_shape: tuple[int, int, int]) -> int:
  """Parameters of one model, counted from shapes without computing them."""
  model = create_model(config, image_shape)
  shapes = jax.eval_shape(functools.partial(init_params, model, image_shape),
                          jax.random.key(0))
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
