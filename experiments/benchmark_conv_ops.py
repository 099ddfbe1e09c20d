r"""Time each convolution of the default model, pass by pass.

  python experiments/benchmark_conv_ops.py [--impls=fast,flax]
      [--batch_size=64] [--repeats=7] [--calls=10] [--output=layers.json]

For every stride-2 layer of the default conv model (`flops.conv_layers`:
the encoder's convolutions, then the decoder's transposed ones) and every
`model.conv_impl` named, times the three passes a train step runs: the
forward pass, the input gradient and the parameter gradient (kernel and
bias), each jitted on its own under the package's XLA options, on random
activations of the shapes the model sees. Prints ms per call and GFLOP/s
(a pass costs the layer's forward multiply-adds x 2), the share of the
machine's float32 matmul rate, and totals; writes JSON with `--output`.

This is where the train step's time goes, layer by layer: the measurement
behind the README's "Where the time goes now". Every (layer, impl, pass)
is timed round by round in a fresh random order (`timing.interleaved_rates`)
so that the machine's drifting load falls on all of them alike. Timed
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

from betavae_jax import allocator
from betavae_jax import base_config
from betavae_jax import flops
from betavae_jax import compiler_options
from betavae_jax import models
from betavae_jax import timing

PASSES = ("forward", "input_grad", "param_grad")

_IMPLS = flags.DEFINE_list(
    "impls", ["fast", "flax"],
    f"Convolution implementations, of {models.CONV_IMPLS}.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per call.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Interleaved rounds (median).")
_CALLS = flags.DEFINE_integer("calls", 10, "Calls of each pass per round.")
_MATMUL = flags.DEFINE_integer("matmul_size", 4096,
                               "Side of the square matmul that sets the peak.")
_OUTPUT = flags.DEFINE_string("output", "", "JSON path ('' : none).")


def layer_passes(layer: flops.ConvLayer, impl: str, batch_size: int,
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


def measure(layers: Sequence[flops.ConvLayer], impls: Sequence[str],
            batch_size: int, calls: int, repeats: int) -> dict:
  """ms per call of every (layer, impl, pass), medians of interleaved
  rounds."""
  contenders = []
  for i, layer in enumerate(layers):
    for impl in impls:
      passes = layer_passes(layer, impl, batch_size, jax.random.key(i))
      for pass_name, call in passes.items():
        holder = [None]

        def step(call=call, holder=holder):
          holder[0] = call()

        def wait(holder=holder):
          jax.block_until_ready(holder[0])

        start = time.perf_counter()
        step()
        wait()
        contenders.append(timing.Contender(
            f"{layer.name}|{impl}|{pass_name}", 1,
            time.perf_counter() - start, step, wait))
  rates = timing.interleaved_rates(contenders, calls, repeats)
  return {name: 1e3 / float(np.median(r)) for name, r in rates.items()}


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
  unknown = sorted(set(_IMPLS.value) - set(models.CONV_IMPLS))
  if unknown:
    raise app.UsageError(f"Unknown --impls {unknown}; choose from "
                         f"{list(models.CONV_IMPLS)}.")
  allocator.keep_heap()
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
