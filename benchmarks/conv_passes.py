r"""Time each convolution of the default model, pass by pass.

  python -m benchmarks.conv_passes [--impls=fast,flax,torch]
      [--batch_size=64] [--repeats=7] [--calls=10] [--output=layers.json]

For every stride-2 layer of the default conv model (`flops.conv_layers`:
the encoder's convolutions, then the decoder's transposed ones) and every
implementation named (a `model.conv_impl`, or "torch": the PyTorch
baseline's layer, `torch_baseline.layer_passes`), times the three passes a
train step runs: the forward pass, the input gradient and the parameter
gradient (kernel and bias), JAX's each jitted on its own under the
package's XLA options, on random activations of the shapes the model sees.
Prints ms per call and GFLOP/s (a pass costs the layer's forward
multiply-adds x 2), the share of the machine's float32 matmul rate, and
totals; writes JSON with `--output`.

This is where the train step's time goes, layer by layer (the per-layer
table of docs/performance.md). Every (layer, impl, pass)
is timed round by round in a fresh random order (`timing.interleaved_rates`,
one implementation's passes after another's) so that the machine's
drifting load falls on all of them alike. Timed
alone, a pass misses what XLA does across layers in the whole step (fusing
the relu and bias into the neighbouring copies, running independent
work side by side), so the totals are a guide, not the step's time.
"""

from collections.abc import Callable, Sequence
import dataclasses
import json
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import flops
from benchmarks import timing
from betavae_jax import base_config
from betavae_jax import compiler_options
from betavae_jax import models
from betavae_jax import process

PASSES = ("forward", "input_grad", "param_grad")
IMPLS = models.CONV_IMPLS + ("torch",)

_IMPLS = flags.DEFINE_list(
    "impls", ["fast", "flax"],
    f"Convolution implementations, of {IMPLS} ('torch' needs PyTorch: "
    "pip install torch==2.13.0).")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per call.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Interleaved rounds (median).")
_CALLS = flags.DEFINE_integer("calls", 10, "Calls of each pass per round.")
_MATMUL = flags.DEFINE_integer("matmul_size", 4096,
                               "Side of the square matmul that sets the peak.")
_OUTPUT = flags.DEFINE_string("output", "", "JSON path ('' : none).")


def jax_layer_passes(layer: flops.ConvLayer, impl: str, batch_size: int,
                     key: jax.Array) -> dict[str, Callable[[], jax.Array]]:
  """The three passes of one layer as jitted calls on fixed random inputs."""
  make = (models.conv_transpose_layer if layer.transposed
          else models.conv_layer)
  module = make(impl, layer.features, layer.kernel_size, jnp.float32)
  k_x, k_p, k_dy = jax.random.split(key, 3)
  x = jax.random.normal(k_x, (batch_size,) + layer.in_shape)
  params = module.init(k_p, x)
  apply = module.apply
  dy = jax.random.normal(k_dy, jax.eval_shape(apply, params, x).shape)

  def input_grad(params, x, dy):
    return jax.vjp(lambda x: apply(params, x), x)[1](dy)[0]

  def param_grad(params, x, dy):
    return jax.vjp(lambda p: apply(p, x), params)[1](dy)[0]

  jit = compiler_options.jit
  calls = {"forward": (jit(apply), (params, x)),
           "input_grad": (jit(input_grad), (params, x, dy)),
           "param_grad": (jit(param_grad), (params, x, dy))}
  return {name: (lambda f=f, args=args: f(*args))
          for name, (f, args) in calls.items()}


def _torch_baseline():
  """`benchmarks.torch_baseline` and its device like JAX's."""
  try:
    from benchmarks import torch_baseline  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise app.UsageError(f"--impls=torch needs PyTorch ({e}): "
                         "pip install torch==2.13.0") from e
  device = torch_baseline.device_like(jax.default_backend())
  if device is None:
    raise app.UsageError("--impls=torch: PyTorch has no device like JAX's "
                         f"{jax.default_backend()}.")
  return torch_baseline, device


def measure(layers: Sequence[flops.ConvLayer], impls: Sequence[str],
            batch_size: int, calls: int, repeats: int) -> dict:
  """ms per call of every (layer, impl, pass), medians of interleaved
  rounds."""
  if "torch" in impls:
    torch_baseline, device = _torch_baseline()
  contenders = []
  for i, layer in enumerate(layers):
    for impl in impls:
      if impl == "torch":
        passes = torch_baseline.layer_passes(
            *torch_baseline.layer_and_inputs(
                layer.transposed, layer.in_shape, layer.features,
                layer.kernel_size, batch_size, device=device))
      else:
        passes = jax_layer_passes(layer, impl, batch_size,
                                  jax.random.key(i))
      for pass_name, call in passes.items():
        holder = [None]

        def step(call=call, holder=holder):
          holder[0] = call()

        def wait(holder=holder, impl=impl):
          if impl == "torch":
            torch_baseline.wait(device)
          else:
            jax.block_until_ready(holder[0])

        start = time.perf_counter()
        step()
        wait()
        contenders.append(timing.Contender(
            f"{layer.name}|{impl}|{pass_name}", 1,
            time.perf_counter() - start, step, wait))
  # Each round times one implementation's calls together, the
  # implementations in a fresh order: timed call by call alongside
  # PyTorch's, JAX's passes ran slower (docs/performance.md), most likely
  # because each framework's worker threads, still spinning after its
  # calls, slow the other's down.
  by_impl = {impl: [c for c in contenders if c.name.split("|")[1] == impl]
             for impl in impls}
  rng = np.random.default_rng(0)
  times = {c.name: [] for c in contenders}
  for round_ in range(repeats):
    for i in rng.permutation(len(impls)):
      rates = timing.interleaved_rates(by_impl[impls[i]], calls, 1,
                                       seed=round_)
      for name, r in rates.items():
        times[name].append(1e3 / r[0])
  return {name: float(np.median(t)) for name, t in times.items()}


def format_table(layers: Sequence[flops.ConvLayer], impls: Sequence[str],
                 ms: dict, batch_size: int, peak_gflops: float) -> str:
  """One row per layer and pass: ms and GFLOP/s of each impl; totals."""
  head = f"{'layer':26s} {'input -> features':20s} {'pass':10s} {'GFLOP':>6s}"
  for impl in impls:
    head += f" {impl + ' ms':>9s} {'GFLOP/s':>7s} {'of peak':>7s}"
  lines = [head]
  totals = {(impl, p): 0.0 for impl in impls for p in PASSES}
  for layer in layers:
    gflop = 2 * layer.macs_per_image * batch_size / 1e9
    shape = "x".join(map(str, layer.in_shape)) + f" -> {layer.features}"
    for p in PASSES:
      row = f"{layer.name:26s} {shape:20s} {p:10s} {gflop:6.3f}"
      for impl in impls:
        t = ms[f"{layer.name}|{impl}|{p}"]
        totals[(impl, p)] += t
        rate = gflop / t * 1e3
        row += f" {t:9.2f} {rate:7.0f} {rate / peak_gflops:7.0%}"
      lines.append(row)
  for p in PASSES + ("all",):
    names = PASSES if p == "all" else (p,)
    row = f"{'total':26s} {'':20s} {p:10s} {'':6s}"
    for impl in impls:
      row += f" {sum(totals[(impl, n)] for n in names):9.2f} {'':7s} {'':7s}"
    lines.append(row)
  lines.append(f"batch {batch_size}; matmul peak {peak_gflops:.0f} GFLOP/s; "
               "a pass costs 2 x the layer's forward multiply-adds")
  return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
  del argv
  unknown = sorted(set(_IMPLS.value) - set(IMPLS))
  if unknown:
    raise app.UsageError(f"Unknown --impls {unknown}; choose from "
                         f"{list(IMPLS)}.")
  process.setup()
  peak = flops.matmul_gflops(_MATMUL.value)
  config = base_config.base_config()
  layers = flops.conv_layers(config.model, (64, 64, 1))
  ms = measure(layers, _IMPLS.value, _BATCH.value, _CALLS.value,
               _REPEATS.value)
  print(f"backend {jax.default_backend()}, jax {jax.__version__}, "
        f"{_REPEATS.value} interleaved rounds of {_CALLS.value} calls")
  print(format_table(layers, _IMPLS.value, ms, _BATCH.value, peak))
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump({"batch_size": _BATCH.value, "matmul_gflops": peak,
                 "ms_per_call": ms,
                 "layers": [dict(dataclasses.asdict(layer),
                                 macs_per_image=layer.macs_per_image)
                            for layer in layers]}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
