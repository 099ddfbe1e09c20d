"""conv_ops against flax's Conv / ConvTranspose: values and gradients,
single and vmapped over population members, float32 and bfloat16."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import base_config
from betavae_jax import conv_ops
from betavae_jax import models

RTOL = 1e-5
MEMBERS = 3


def _flax_layer(kind: str, features: int, k: int) -> nn.Module:
  if kind == "conv":
    return nn.Conv(features, (k, k), strides=2, padding="SAME")
  return nn.ConvTranspose(features, (k, k), strides=(2, 2), padding="SAME")


def _fast_layer(kind: str, features: int, k: int) -> nn.Module:
  cls = conv_ops.Conv if kind == "conv" else conv_ops.ConvTranspose
  return cls(features, k)


def _assert_close(actual, expected, rtol=RTOL):
  """Max abs error relative to the largest magnitude, leaf by leaf."""
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    assert a.shape == e.shape
    scale = float(jnp.max(jnp.abs(e))) or 1.0
    assert float(jnp.max(jnp.abs(a - e))) <= rtol * scale


def _value_and_grads(layer, params, x, dy):
  """y, then d<y, dy>/d(params, x): every gradient the step needs."""
  y, vjp = jax.vjp(lambda p, x: layer.apply({"params": p}, x), params, x)
  return y, vjp(dy)


def _inputs(kind, k, c_in=5, c_out=7, size=8, seed=0):
  rng = np.random.default_rng(seed)
  side = size if kind == "conv" else size // 2
  x = jnp.asarray(rng.normal(size=(4, side, side + 2, c_in)), jnp.float32)
  params = _flax_layer(kind, c_out, k).init(jax.random.key(seed), x)
  params = jax.tree.map(
      lambda p: p + jnp.asarray(rng.normal(size=p.shape), p.dtype),
      params["params"])  # Non-zero bias too.
  y = _flax_layer(kind, c_out, k).apply({"params": params}, x)
  dy = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  return x, params, dy


@pytest.mark.parametrize("kind", ["conv", "transpose"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("c_out", [7, 2], ids=["phases", "few_outputs"])
@pytest.mark.slow
def test_matches_flax(kind, k, c_out):
  """Odd and even kernels; 2 output channels take another formulation."""
  x, params, dy = _inputs(kind, k, c_out=c_out)
  expected = _value_and_grads(_flax_layer(kind, c_out, k), params, x, dy)
  actual = _value_and_grads(_fast_layer(kind, c_out, k), params, x, dy)
  _assert_close(actual, expected)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["conv", "transpose"])
@pytest.mark.parametrize("c_in,c_out", [(1, 6), (6, 1), (4, 4)])
def test_matches_flax_for_channel_extremes(kind, c_in, c_out):
  """Both kernel-gradient formulations (small input or small gradient)."""
  x, params, dy = _inputs(kind, 4, c_in, c_out, size=16)
  expected = _value_and_grads(_flax_layer(kind, c_out, 4), params, x, dy)
  actual = _value_and_grads(_fast_layer(kind, c_out, 4), params, x, dy)
  _assert_close(actual, expected)


def _member_params(kind, k):
  keys = jax.random.split(jax.random.key(1), MEMBERS)
  x, _, _ = _inputs(kind, k)
  return jax.vmap(lambda key: _flax_layer(kind, 7, k).init(key, x))(
      keys)["params"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["conv", "transpose"])
@pytest.mark.parametrize("in_axes", [(0, 0), (0, None), (None, 0)],
                         ids=["both", "params", "inputs"])
def test_vmapped_matches_flax(kind, in_axes):
  """Per-member params and inputs, shared inputs (the first layer of a
  population), and shared params; each with gradients."""
  x, params, dy = _inputs(kind, 4)
  xs = jnp.stack([x * (i + 1) for i in range(MEMBERS)])
  dys = jnp.stack([dy - i for i in range(MEMBERS)])
  p_arg = _member_params(kind, 4) if in_axes[0] == 0 else params
  x_arg = xs if in_axes[1] == 0 else x

  def run(layer):
    return jax.vmap(lambda p, x, dy: _value_and_grads(layer, p, x, dy),
                    in_axes=in_axes + (0,))(p_arg, x_arg, dys)

  _assert_close(run(_fast_layer(kind, 7, 4)), run(_flax_layer(kind, 7, 4)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["conv", "transpose"])
def test_same_parameters_and_batch_shapes_as_flax(kind):
  x = jnp.ones((2, 3, 8, 8, 3))
  flax_vars = _flax_layer(kind, 4, 4).init(jax.random.key(0), x[0])
  fast_vars = _fast_layer(kind, 4, 4).init(jax.random.key(0), x[0])
  assert jax.tree.all(jax.tree.map(jnp.array_equal, fast_vars, flax_vars))
  for inputs in (x, x[0, 0]):  # Two batch dims, and none.
    _assert_close(_fast_layer(kind, 4, 4).apply(fast_vars, inputs),
                  _flax_layer(kind, 4, 4).apply(flax_vars, inputs))


def test_odd_size_is_rejected():
  x = jnp.ones((1, 7, 8, 2))
  with pytest.raises(ValueError, match="even"):
    conv_ops.Conv(3, 4).init(jax.random.key(0), x)


def _model(conv_impl: str, dtype: str = "float32"):
  config = base_config.base_config().model
  config.update(dict(conv_channels=(8, 8, 16), dense_sizes=(32,),
                     latent_dim=4, dtype=dtype))
  config.conv_impl = conv_impl
  return models.create_model(config, (32, 32, 1))


def _model_loss(model, params, x, key):
  recon, stats = model.apply({"params": params}, x, train=True,
                             rngs={"latent": key})
  return jnp.mean(jnp.square(recon - x)) + jnp.mean(stats["mean"]**2)


@pytest.mark.slow
def test_model_fast_matches_flax_for_a_population():
  """The train step's situation: shared images, per-member parameters."""
  fast, ref = _model("fast"), _model("flax")
  x = jnp.asarray(np.random.default_rng(0).random((4, 32, 32, 1)) < 0.2,
                  jnp.float32)
  keys = jax.random.split(jax.random.key(0), MEMBERS)
  init = lambda m: jax.vmap(lambda k: m.init(
      {"params": k, "latent": k}, x, train=True)["params"])(keys)
  params = init(ref)
  assert jax.tree.all(jax.tree.map(jnp.array_equal, init(fast), params))
  grads = lambda m: jax.vmap(jax.value_and_grad(
      lambda p, k: _model_loss(m, p, x, k)))(params, keys)
  _assert_close(grads(fast), grads(ref))


@pytest.mark.slow
def test_bfloat16_forward_backward_is_finite():
  model = _model("fast", "bfloat16")
  x = jnp.ones((2, 32, 32, 1)) * 0.5
  key = jax.random.key(0)
  params = model.init({"params": key, "latent": key}, x, train=True)["params"]
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  recon, _ = model.apply({"params": params}, x, train=True,
                         rngs={"latent": key})
  assert recon.dtype == jnp.float32
  loss, grads = jax.value_and_grad(
      lambda p: _model_loss(model, p, x, key))(params)
  assert np.isfinite(float(loss))
  for g in jax.tree.leaves(grads):
    assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))
