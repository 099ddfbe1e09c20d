"""benchmarks.conv_passes: one tiny run, and a clear error."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from betavae_jax import conv_ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*flags, env=None):
  return subprocess.run(
      [sys.executable, "-m", "benchmarks.conv_passes", *flags],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
      env=env)


@pytest.mark.slow
def test_times_every_pass_of_every_layer(tmp_path):
  out = tmp_path / "layers.json"
  proc = _run("--impls=fast,flax", "--batch_size=2", "--repeats=1",
              "--calls=1", "--matmul_size=64", f"--output={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  layers = {layer["name"]: layer for layer in result["layers"]}
  times = result["ms_per_call"]
  assert len(layers) == 8 and len(times) == 8 * 3 * 2
  assert all(t > 0 for t in times.values())
  # A row per layer and pass: GFLOP, then ms, GFLOP/s, share per impl.
  rows = [line.split() for line in proc.stdout.splitlines()
          if line.startswith(("encoder/", "decoder/"))]
  assert len(rows) == 8 * 3
  for row in rows:
    name, p = row[0], row[-8]
    gflop = 2 * layers[name]["macs_per_image"] * 2 / 1e9  # Batch 2.
    assert float(row[-7]) == round(gflop, 3)
    for impl, (ms, rate) in zip(("fast", "flax"), (row[-6:-4], row[-3:-1])):
      assert float(ms) == round(times[f"{name}|{impl}|{p}"], 2)
      assert float(rate) == round(gflop / times[f"{name}|{impl}|{p}"] * 1e3)


@pytest.mark.slow
def test_unknown_impl_is_a_usage_error():
  proc = _run("--impls=fast,cudnn")
  assert proc.returncode != 0
  assert "Unknown --impls ['cudnn']" in proc.stderr


@pytest.mark.slow
def test_torch_without_pytorch_is_a_usage_error(tmp_path):
  fake = tmp_path / "torch"  # Shadows any installed PyTorch.
  fake.mkdir()
  (fake / "__init__.py").write_text("raise ImportError('no torch here')\n")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
  proc = _run("--impls=fast,torch", env=env)
  assert proc.returncode != 0
  assert "--impls=torch needs PyTorch (no torch here)" in proc.stderr


def test_torch_layers_compute_what_the_fast_layers_compute():
  """The baseline's layers are the model's: same padding and sizes, and
  with the same weights, the same values and gradients."""
  pytest.importorskip("torch")
  from benchmarks import torch_baseline  # pylint: disable=g-import-not-at-top
  for transposed, in_shape, features in ((False, (8, 8, 3), 5),
                                         (True, (4, 4, 3), 5)):
    layer, x, dy = torch_baseline.layer_and_inputs(transposed, in_shape,
                                                   features, 4, 2)
    passes = torch_baseline.layer_passes(layer, x, dy)
    # PyTorch's Conv2d weight is (out, in, kh, kw); ConvTranspose2d's is
    # (in, out, kh, kw), its kernel flipped against flax's.
    to_hwio = ((lambda w: w.transpose(2, 3, 0, 1)[::-1, ::-1]) if transposed
               else (lambda w: w.transpose(2, 3, 1, 0)))
    kernel = to_hwio(layer.weight.detach().numpy())
    params = {"params": {"kernel": jnp.asarray(kernel.copy()),
                         "bias": jnp.asarray(layer.bias.detach().numpy())}}
    module = (conv_ops.ConvTranspose if transposed else conv_ops.Conv)(
        features, 4)
    x_j = jnp.asarray(x.permute(0, 2, 3, 1).numpy())
    dy_j = jnp.asarray(dy.permute(0, 2, 3, 1).numpy())
    y, vjp = jax.vjp(module.apply, params, x_j)
    d_params, d_x = vjp(dy_j)
    to_nhwc = lambda t: t.detach().permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(to_nhwc(passes["forward"]()), y, atol=1e-5)
    np.testing.assert_allclose(to_nhwc(passes["input_grad"]()[0]), d_x,
                               atol=1e-4)
    d_weight, d_bias = passes["param_grad"]()
    np.testing.assert_allclose(to_hwio(d_weight.numpy()),
                               d_params["params"]["kernel"],
                               atol=1e-4)
    np.testing.assert_allclose(d_bias.numpy(), d_params["params"]["bias"],
                               atol=1e-4)
