r"""Training speed of the default model, side by side with PyTorch.

  python -m benchmarks.train_speed [--jax=fast:1,fast:4,fast:8,flax:1]
      [--output=bench.json]

Prints a table and writes JSON with: train images/s of one model and of
vmapped populations (aggregate over members) for each convolution
implementation (`model.conv_impl`) and compute dtype named in `--jax`,
time to the first step (trace + compile + run), the memory XLA plans for
the step, model FLOPs per image and the fraction of the machine's measured
float32 matmul rate that the step reaches, peak resident memory while
training one model, and, when PyTorch is installed, the same model and
step in PyTorch eager and `torch.compile` (see
`benchmarks/torch_baseline.py`) on the same device (CPU, or CUDA when
JAX runs on a GPU), with the ratios. The input pipeline's
images/s and the evaluation suite's time are measured when those modules
can load the data (else the table says 'not available', with the reason).

Every contender runs in this process, under the same allocator settings
(`process.setup`), interleaved round by round in a fresh random
order, each training about as many images per round; figures are medians
over `--repeats` rounds. The machine's load average is recorded at start
and end: on a shared machine, compare only figures from one run.
"""

from collections.abc import Sequence
import dataclasses
import functools
import importlib.metadata
import json
import os
import resource
import time

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from benchmarks import flops as flops_lib
from benchmarks import timing
from betavae_jax import allocator
from betavae_jax import base_config
from betavae_jax import encode_decode
from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import process
from betavae_jax import steps

_JAX = flags.DEFINE_list(
    "jax", ["fast:1", "fast:4", "fast:8", "flax:1"],
    "JAX contenders as conv_impl:population_size[:dtype] (dtype: the "
    "model's compute dtype, float32 unless named); the first is the single "
    "model that populations and PyTorch are compared with.")
_STEPS = flags.DEFINE_integer(
    "steps", 20, "Single-model train steps per timed round; a population of "
    "P runs steps / P (rounded up), so every contender trains about as many "
    "images per round.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Interleaved rounds (median).")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per step.")
_TORCH = flags.DEFINE_enum("torch", "auto", ["auto", "off"],
                           "Time PyTorch when installed ('off': skip).")
_DATA = flags.DEFINE_string(
    "data", "dsprites", "Dataset for the input pipeline and evaluation "
    "timings ('' skips both); uses config.data defaults otherwise.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir.")
_EVAL = flags.DEFINE_bool("eval_suite", True,
                          "Time the disentanglement metric suite.")
_MATMUL = flags.DEFINE_integer("matmul_size", 4096,
                               "Side of the square matmul that sets the peak.")
_OUTPUT = flags.DEFINE_string("output", "benchmark.json", "JSON path.")

NOT_AVAILABLE = "not available"
DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass
class Options:
  """What to run: the flags' values, or tiny ones in tests."""

  jax: Sequence[tuple[str, int, str]] = (
      ("fast", 1, "float32"), ("fast", 4, "float32"), ("fast", 8, "float32"),
      ("flax", 1, "float32"))
  steps: int = 20
  repeats: int = 3
  batch_size: int = 64
  torch: bool = True
  data: str = "dsprites"
  data_dir: str | None = None
  eval_suite: bool = True
  matmul_size: int = 4096
  model_overrides: dict = dataclasses.field(default_factory=dict)


def benchmark_config(options: Options) -> ml_collections.ConfigDict:
  """The default config, with the batch size and any model overrides."""
  config = base_config.base_config()
  config.train.batch_size = options.batch_size
  config.model.update(options.model_overrides)
  return config


def step_memory_mib(compiled) -> float | None:
  """The device memory XLA plans for one call of a compiled step:
  arguments and outputs (less what the donated state shares) and
  temporaries."""
  m = compiled.memory_analysis()
  if m is None:  # Backends that do not report it.
    return None
  total = (m.argument_size_in_bytes + m.output_size_in_bytes
           - m.alias_size_in_bytes + m.temp_size_in_bytes)
  return total / 2**20


def jax_contender(config: ml_collections.ConfigDict, conv_impl: str,
                  size: int, dtype: str, images: np.ndarray):
  """The population-vmapped, jitted train step of `steps.make_steps`, and
  the memory XLA plans for it (MiB)."""
  config = config.copy_and_resolve_references()
  config.model.conv_impl = conv_impl
  config.model.dtype = dtype
  config.population.seeds = tuple(range(size))
  members = population_lib.from_config(config).members()
  image_shape = images.shape[1:]
  model = models.create_model(config.model, image_shape)
  state = steps.create_population_state(config, model, image_shape, members)
  p_train, _ = steps.make_steps(config, model, pixel_max=1)
  batch = jnp.asarray(images)
  start = time.perf_counter()
  # Compiled ahead of time, the same program `p_train` would compile on
  # its first call, so that its memory plan can be read.
  compiled = p_train.lower(state, batch, members).compile()
  holder = [state]

  def step():
    holder[0], _ = compiled(holder[0], batch, members)

  def wait():
    jax.block_until_ready(holder[0])

  step()
  wait()
  first = time.perf_counter() - start
  return (timing.Contender(contender_name(conv_impl, size, dtype),
                           size * len(images), first, step, wait),
          step_memory_mib(compiled))


def contender_name(conv_impl: str, size: int, dtype: str = "float32") -> str:
  suffix = "" if dtype == "float32" else f" {dtype}"
  return f"jax {conv_impl} P={size}{suffix}"


def parse_contenders(specs: Sequence[str]) -> list[tuple[str, int, str]]:
  """['fast:1', 'flax:8:bfloat16'] -> [('fast', 1, 'float32'),
  ('flax', 8, 'bfloat16')], checked."""
  parsed = []
  for spec in specs:
    fields = spec.split(":")
    impl, size, dtype = (fields + ["float32"])[:3] if len(fields) in (
        2, 3) else ("", "", "")
    if (impl not in models.CONV_IMPLS or not size.isdigit() or int(size) < 1
        or dtype not in DTYPES):
      raise app.UsageError(
          f"--jax={spec!r}: expected conv_impl:size[:dtype] with conv_impl "
          f"in {models.CONV_IMPLS}, size >= 1, dtype in {DTYPES}.")
    parsed.append((impl, int(size), dtype))
  return parsed


def _load_torch_baseline():
  """`benchmarks.torch_baseline`, or None where PyTorch does not import."""
  try:
    from benchmarks import torch_baseline  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    logging.info("PyTorch baseline not timed: %s", e)
    return None
  return torch_baseline


def torch_contenders(config: ml_collections.ConfigDict,
                     images: np.ndarray) -> list[timing.Contender]:
  """PyTorch eager and compiled on JAX's kind of device, or none where
  torch is not installed or cannot use that device."""
  torch_baseline = _load_torch_baseline()
  if torch_baseline is None:
    return []
  device = torch_baseline.device_like(jax.default_backend())
  if device is None:
    logging.info("PyTorch baseline not timed: no device like JAX's %s.",
                 jax.default_backend())
    return []
  m, opt = config.model, config.optim
  wait = functools.partial(torch_baseline.wait, device)
  out = []
  for mode in torch_baseline.modes(device):
    start = time.perf_counter()
    step = torch_baseline.make_step(
        mode, images, device=device, channels=m.conv_channels,
        dense_sizes=m.dense_sizes, latent_dim=m.latent_dim,
        learning_rate=opt.learning_rate, beta=config.objective.beta)
    try:
      step()
      wait()
    except Exception as e:  # pylint: disable=broad-except
      # An optional baseline mode that fails on this machine's PyTorch
      # leaves the others (and the JAX figures) standing.
      logging.warning("PyTorch %s not timed: %r", mode, e)
      continue
    out.append(timing.Contender(f"torch {mode}", len(images),
                                time.perf_counter() - start, step, wait))
  return out


def _version(package: str) -> str | None:
  """The installed version of `package`, or None."""
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def _peak_rss_mib() -> float:
  """This process's peak resident memory so far (Linux: KiB units)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def input_pipeline_rate(options: Options, config: ml_collections.ConfigDict,
                        num_batches: int = 200):
  """(images/s of `input_pipeline.batch_iterator`, seconds to load the
  dataset, dataset) or (reason, None, None) where the pipeline or its data
  is not available."""
  try:
    from betavae_jax import input_pipeline
  except ImportError as e:
    return f"{NOT_AVAILABLE} ({e})", None, None
  data_config = config.data.copy_and_resolve_references()
  data_config.name = options.data
  data_config.data_dir = options.data_dir
  try:
    start = time.perf_counter()
    dataset = input_pipeline.load_dataset(data_config)
    load_s = time.perf_counter() - start
    batches = input_pipeline.batch_iterator(dataset, options.batch_size,
                                            data_config.seed)
    next(batches)  # Starts the reader threads.
  except input_pipeline.DataError as e:
    return f"{NOT_AVAILABLE} ({e})", None, None
  start = time.perf_counter()
  for _ in range(num_batches):
    next(batches)
  rate = num_batches * options.batch_size / (time.perf_counter() - start)
  return rate, load_s, dataset


def eval_suite_seconds(config: ml_collections.ConfigDict, dataset):
  """Seconds the evaluation suite spends scoring one (untrained) model on every
  metric at the published sizes, or the reason it is not available."""
  try:
    # pylint: disable=g-import-not-at-top
    from betavae_jax import evaluation
    from betavae_jax.evaluation import suite
    # pylint: enable=g-import-not-at-top
  except ImportError as e:
    return f"{NOT_AVAILABLE} ({e})"
  if dataset is None or dataset.ground_truth is None:
    return f"{NOT_AVAILABLE} (no ground-truth dataset)"
  model = models.create_model(config.model, dataset.image_shape)
  key = jax.random.key(0)
  params = models.init_params(model, dataset.image_shape, key)
  encode, _ = encode_decode.jitted_population(
      model, dataset.pixel_max,
      in_turn=population_lib.runs_in_turn(config.model))
  members = jax.tree.map(lambda a: a[None], params)
  start = time.perf_counter()
  suite.score_population(dataset.ground_truth,
                         functools.partial(encode, members), key,
                         evaluation.METRICS)
  return time.perf_counter() - start


def run(options: Options,
        image_shape: tuple[int, int, int] = (64, 64, 1)) -> dict:
  """Runs every measurement; returns the results as a JSON-ready dict."""
  load_start = os.getloadavg()
  # First, on an empty device: on a GPU whose memory the populations have
  # filled, XLA picks a slower matmul (docs/performance.md).
  peak = flops_lib.matmul_gflops(options.matmul_size)
  config = benchmark_config(options)
  images = timing.sparse_images(options.batch_size, image_shape)
  reference_impl = options.jax[0][0]
  reference = (reference_impl, 1, options.jax[0][2])
  specs = [reference] + [s for s in options.jax if s != reference]
  contenders, step_mib = [], {}
  for i, spec in enumerate(specs):
    contender, step_mib[contender_name(*spec)] = jax_contender(
        config, *spec, images)
    contenders.append(contender)
    if i == 0:
      train_rss = _peak_rss_mib()  # One model only, before any population.
  if options.torch:
    contenders += torch_contenders(config, images)
  rates = timing.interleaved_rates(contenders, options.steps, options.repeats)
  flops = flops_lib.model_flops_per_image(config.model, image_shape)
  results = {
      "machine": {
          "load_average_start": load_start, "cpu_count": os.cpu_count(),
          "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()],
          "device_kind": jax.devices()[0].device_kind,
          "jax": jax.__version__, "torch": _version("torch"),
          "allocator": allocator.describe(),
          "malloc_env": {k: v for k, v in os.environ.items()
                         if k.startswith("MALLOC_")}},
      "batch_size": options.batch_size, "steps_per_round": options.steps,
      "rounds": options.repeats,
      "model_flops_per_image": flops, "matmul_gflops": peak,
      "train_peak_rss_mib": train_rss, "train": {}}
  for c in contenders:
    median = float(np.median(rates[c.name]))
    logging.info("%s: %.0f images/s (rounds %s), first step %.1f s", c.name,
                 median, np.round(rates[c.name]), c.first_step_s)
    results["train"][c.name] = {
        "images_per_s": median, "rounds": rates[c.name],
        "first_step_s": c.first_step_s,
        "step_memory_mib": step_mib.get(c.name),  # None: PyTorch.
        "matmul_peak_fraction": median * flops / (peak * 1e9)}
  train_rates = {k: v["images_per_s"] for k, v in results["train"].items()}
  single_name = contender_name(*reference)
  single = train_rates[single_name]
  results["single"] = single_name
  results["vs_single"] = {
      contender_name(*s): train_rates[contender_name(*s)] / single
      for s in specs}
  torch_rates = {k: v for k, v in train_rates.items() if k.startswith("torch")}
  if torch_rates:
    results["jax_vs_torch"] = {k: single / v for k, v in torch_rates.items()}
    results["jax_vs_torch"]["best"] = single / max(torch_rates.values())
  if options.data:
    rate, load_s, dataset = input_pipeline_rate(options, config)
  else:
    rate, load_s, dataset = f"{NOT_AVAILABLE} (--data='')", None, None
  results["input_pipeline_images_per_s"] = rate
  results["data_load_s"] = load_s  # Holding the images, if in_memory.
  results["data_in_memory"] = config.data.in_memory
  results["eval_suite_s"] = (eval_suite_seconds(config, dataset)
                             if options.eval_suite
                             else f"{NOT_AVAILABLE} (--noeval_suite)")
  results["process_peak_rss_mib"] = _peak_rss_mib()
  results["machine"]["load_average_end"] = os.getloadavg()
  return results


def _fmt(value, spec: str) -> str:
  if value is None:
    return "-"
  return format(value, spec) if isinstance(value, (int, float)) else value


def format_table(results: dict) -> str:
  """The results as a plain-text table."""
  m = results["machine"]
  lines = [
      f"backend {m['backend']} ({m['device_kind']}), {m['cpu_count']} CPUs,"
      f" jax {m['jax']}, torch {m['torch'] or NOT_AVAILABLE}; "
      f"allocator: {m['allocator']}",
      "load average (1/5/15 min) start "
      + "/".join(f"{x:.2f}" for x in m["load_average_start"]) + ", end "
      + "/".join(f"{x:.2f}" for x in m["load_average_end"]),
      f"batch {results['batch_size']}, median of {results['rounds']} "
      f"interleaved rounds of {results['steps_per_round']} single-model "
      "steps (populations: as many images)",
      "",
      f"{'contender':<28}{'images/s':>10}{'first step s':>14}"
      f"{'step MiB':>10}{'of matmul peak':>16}"]
  for name, r in results["train"].items():
    lines.append(f"{name:<28}{r['images_per_s']:>10.0f}"
                 f"{r['first_step_s']:>14.1f}"
                 f"{_fmt(r['step_memory_mib'], '.0f'):>10}"
                 f"{r['matmul_peak_fraction']:>16.1%}")
  lines.append("")
  lines.append(f"aggregate / {results['single']}: " + ", ".join(
      f"{k.replace('jax ', '')} {v:.2f}x"
      for k, v in results["vs_single"].items()))
  if "jax_vs_torch" in results:
    lines.append(f"{results['single']} / torch: " + ", ".join(
        f"{k.replace('torch ', '')} {v:.2f}x"
        for k, v in results["jax_vs_torch"].items()))
  else:
    lines.append(f"{results['single']} / torch: {NOT_AVAILABLE} "
                 "(PyTorch not installed)")
  lines += [
      f"model: {results['model_flops_per_image'] / 1e6:.1f} MFLOP per image "
      f"(train step); matmul peak {results['matmul_gflops']:.0f} GFLOP/s",
      f"peak RSS: {results['train_peak_rss_mib']:.0f} MiB training one model,"
      f" {results['process_peak_rss_mib']:.0f} MiB whole benchmark",
      "input pipeline images/s: "
      + _fmt(results["input_pipeline_images_per_s"], ".0f")
      + f" (data.in_memory={results['data_in_memory']}; loaded in "
      + _fmt(results["data_load_s"], ".1f") + " s)",
      "evaluation suite s: " + _fmt(results["eval_suite_s"], ".1f")]
  return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()  # Before JAX and PyTorch start their threads.
  options = Options(
      jax=parse_contenders(_JAX.value), steps=_STEPS.value,
      repeats=_REPEATS.value, batch_size=_BATCH.value,
      torch=_TORCH.value == "auto", data=_DATA.value,
      data_dir=_DATA_DIR.value, eval_suite=_EVAL.value,
      matmul_size=_MATMUL.value)
  results = run(options)
  print(format_table(results))
  with open(_OUTPUT.value, "w") as f:
    json.dump(results, f, indent=2)
  print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
  app.run(main)
