"""Output shapes and parameter counts of the encoder/decoder architectures."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import base_config
from betavae_jax import models
from betavae_jax import population


def _model_config(name, **overrides):
  config = base_config.base_config().model
  config.name = name
  config.update(overrides)
  return config


def _count(params):
  return sum(x.size for x in jax.tree.leaves(params))


@pytest.mark.parametrize("name", ["conv", "mlp"])
@pytest.mark.parametrize("shape", [(64, 64, 1), (28, 28, 1), (64, 64, 3)])
@pytest.mark.slow
def test_output_shapes(name, shape):
  model = models.create_model(_model_config(name, latent_dim=6), shape)
  x = jnp.zeros((2,) + shape)
  variables = model.init({"params": jax.random.key(0),
                          "latent": jax.random.key(1)}, x, train=True)
  recon, stats = model.apply(variables, x, train=True,
                             rngs={"latent": jax.random.key(2)})
  assert recon.shape == (2,) + shape
  for k in ("mean", "logvar", "z"):
    assert stats[k].shape == (2, 6)
  _, det = model.apply(variables, x, train=False)
  assert jnp.array_equal(det["z"], det["mean"])


@pytest.mark.slow
def test_conv_parameter_count():
  """The standard 64x64 conv beta-VAE (Locatello et al. 2019 layout)."""
  model = models.create_model(_model_config("conv"), (64, 64, 1))
  params = model.init({"params": jax.random.key(0), "latent":
                       jax.random.key(0)}, jnp.zeros((1, 64, 64, 1)),
                      train=True)["params"]
  enc = (16 * 32 + 32) + (16 * 32 * 32 + 32) + (16 * 32 * 64 + 64) + (
      16 * 64 * 64 + 64) + (1024 * 256 + 256) + (256 * 20 + 20)
  dec = (10 * 256 + 256) + (256 * 1024 + 1024) + (16 * 64 * 64 + 64) + (
      16 * 64 * 32 + 32) + (16 * 32 * 32 + 32) + (16 * 32 * 1 + 1)
  assert _count(params["encoder"]) == enc
  assert _count(params["decoder"]) == dec


def test_mlp_parameter_count():
  model = models.create_model(_model_config("mlp"), (64, 64, 1))
  params = model.init({"params": jax.random.key(0), "latent":
                       jax.random.key(0)}, jnp.zeros((1, 64, 64, 1)),
                      train=True)["params"]
  enc = 4096 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 20 + 20
  dec = 10 * 1200 + 1200 + 2 * (1200 * 1200 + 1200) + 1200 * 4096 + 4096
  assert _count(params["encoder"]) == enc
  assert _count(params["decoder"]) == dec


def test_reparameterize_statistics():
  mean, logvar = jnp.full((200_000,), 1.5), jnp.full((200_000,), jnp.log(4.0))
  z = models.reparameterize(jax.random.key(0), mean, logvar)
  assert float(jnp.mean(z)) == pytest.approx(1.5, abs=0.02)
  assert float(jnp.std(z)) == pytest.approx(2.0, abs=0.02)


def test_unknown_architecture():
  with pytest.raises(ValueError, match="conv"):
    models.create_model(_model_config("resnet"), (64, 64, 1))


def test_only_flax_convs_keep_xla_batching():
  config = base_config.base_config().model
  assert population.runs_in_turn(config)  # The default: conv_ops.
  config.conv_impl = "flax"
  assert not population.runs_in_turn(config)
  config.name = "mlp"
  assert population.runs_in_turn(config)


def test_a_config_without_conv_impl_ran_flax_convs():
  config = base_config.base_config().model
  del config["conv_impl"]
  assert models.conv_impl_of(config) == "flax"
  model = models.create_model(config, (64, 64, 1))
  assert model.encoder.conv_impl == "flax"


def _kernels(config, shape=(64, 64, 1)):
  """Every kernel of a freshly initialised model, by path."""
  model = models.create_model(config, shape)
  params = models.init_params(model, shape, jax.random.key(0))
  return {jax.tree_util.keystr(path): leaf for path, leaf
          in jax.tree_util.tree_leaves_with_path(params)
          if "kernel" in jax.tree_util.keystr(path)}


def test_default_kernel_init_is_flax_lecun_normal_bit_for_bit():
  config = _model_config("conv")
  default = _kernels(config)
  del config["kernel_init"]  # Configs from before the field.
  assert models.kernel_init_of(config) == "lecun_normal"
  flax_default = _kernels(config)
  for path, kernel in default.items():
    np.testing.assert_array_equal(kernel, flax_default[path])


@pytest.mark.parametrize("name, gain, fan", [
    ("lecun_normal", 1.0, "in"), ("he_normal", 2.0, "in"),
    ("he_uniform", 2.0, "in"), ("glorot_uniform", 2.0, "in+out")])
def test_kernel_init_scales_every_kernel_by_its_fans(name, gain, fan):
  kernels = _kernels(_model_config("conv", kernel_init=name))
  assert len(kernels) == 12  # Each way: 4 (transposed) convs, 2 dense.
  for path, kernel in kernels.items():
    receptive = math.prod(kernel.shape[:-2])
    fan_in, fan_out = (receptive * kernel.shape[-2],
                       receptive * kernel.shape[-1])
    expected = gain / (fan_in if fan == "in" else fan_in + fan_out)
    # The variance of n draws is within 20% of its expectation for n > 400
    # (the smallest kernel, 4 x 4 x 32 x 1, has 512 entries).
    assert float(np.var(kernel)) == pytest.approx(expected, rel=0.2), path


def test_unknown_kernel_init():
  with pytest.raises(ValueError, match="kernel_init"):
    models.create_model(_model_config("conv", kernel_init="zeros"),
                        (64, 64, 1))
