"""Times the metric suite against a straightforward implementation of it.

Both implementations score the same dSprites-shaped stand-in at the
published defaults (Locatello et al. 2019): factor sizes (1, 3, 6, 40, 32,
32), 64x64x1 uint8 images, and a cheap fake encoder in place of a trained
network, so the times are the metrics' own (rendering and the fake encoder
included; a real encoder's forward passes are not). The fake code has ten
latents: five noisy, slightly mixed monotone functions of one factor each
and five near-constant ones, roughly what a good beta-VAE gives.

The straightforward implementation below follows the published
definitions the way their reference code does: a Python loop per point
with one encoder call per 64-image batch (16 images per call for the
factor-code sample), sklearn's GradientBoostingClassifier for DCI, one
LinearSVC per (latent, factor) for SAP, and mutual_info_score per pair.
It lives here, not in the package, only to be timed and compared against.
Both run with one BLAS thread, so the speed-up is the implementations'.

DCI is also scored with the fast backend on the straightforward run's
codes, and on a second draw, so the lightgbm / sklearn difference can be
read against sampling noise. Wall-clock and process CPU seconds are both
reported: on a shared machine the wall clock also measures the neighbours.

Run (minutes on a CPU, nearly all of it sklearn's DCI):
  python -m benchmarks.metrics_speed --out=/tmp/benchmark_metrics.json
"""

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable

import jax
import numpy as np
from scipy import stats
from sklearn import ensemble
from sklearn import linear_model
from sklearn import metrics as sk_metrics
from sklearn import preprocessing
from sklearn import svm
import threadpoolctl

from betavae_jax import process
from betavae_jax.datasets import ground_truth
from betavae_jax.evaluation import metrics
from betavae_jax.evaluation import sampling
from betavae_jax.evaluation import scores

SIZES = (1, 3, 6, 40, 32, 32)


class FakeSprites(ground_truth.GroundTruthData):
  """dSprites' factor grid and image size; the top row holds the classes."""

  name = "fake_sprites"
  factor_names = ("color", "shape", "scale", "orientation", "pos_x",
                  "pos_y")
  factor_sizes = SIZES
  image_shape = (64, 64, 1)
  pixel_max = 1
  render_seconds = 0.0  # Time spent rendering, for the report.

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    start = time.perf_counter()
    images = np.zeros((len(factors),) + self.image_shape, dtype=np.uint8)
    images[:, 0, :len(SIZES), 0] = factors
    self.render_seconds += time.perf_counter() - start
    return images


def _hash_noise(index: np.ndarray, salt: np.ndarray) -> np.ndarray:
  """Deterministic pseudo-random values in [-0.5, 0.5) per (image, salt)."""
  return np.modf(np.sin(index[:, None] * 12.9898 + salt) * 43758.5453)[
      0] % 1.0 - 0.5


def make_encoder(data: FakeSprites) -> Callable[[np.ndarray], np.ndarray]:
  """A cheap deterministic stand-in for an encoder's posterior mean."""
  mixing = np.eye(5) + 0.1 * np.random.default_rng(0).normal(size=(5, 5))
  salt = np.arange(10) * 78.233

  def encode(images: np.ndarray) -> np.ndarray:
    factors = images[:, 0, :len(SIZES), 0].astype(np.int64)
    noise = _hash_noise(data.factors_to_index(factors).astype(np.float64),
                        salt)
    unit = factors[:, 1:] / (np.asarray(SIZES[1:]) - 1.0)
    active = np.tanh(2.0 * unit - 1.0) @ mixing + 0.1 * noise[:, :5]
    return np.concatenate([active, 0.01 * noise[:, 5:]], axis=1)
  return encode


# The straightforward implementation, one function per metric.


def _sample_codes(data, encode, num, rng, batch=16):
  """Codes and varying factors of `num` random images, 16 per call."""
  codes, factors = [], []
  for start in range(0, num, batch):
    f = data.sample_factors(min(batch, num - start), rng)
    codes.append(encode(data.images_from_factors(f)))
    factors.append(f[:, 1:])
  return np.concatenate(codes), np.concatenate(factors)


def _histogram_bins(codes, num_bins=20):
  """np.histogram edges and np.digitize, one latent at a time."""
  out = np.zeros(codes.shape, dtype=np.int64)
  for i in range(codes.shape[1]):
    edges = np.histogram(codes[:, i], num_bins)[1]
    out[:, i] = np.digitize(codes[:, i], edges[:-1])
  return out


def _mutual_info(bins, factors):
  """(D, K) mutual_info_score, one pair at a time."""
  return np.array([[sk_metrics.mutual_info_score(factors[:, k], bins[:, d])
                    for k in range(factors.shape[1])]
                   for d in range(bins.shape[1])])


def naive_beta_vae(data, encode, rng, batch=64, num_train=10000,
                   num_eval=5000):
  """One point per loop iteration, two 64-image encoder calls each."""
  def point():
    k = rng.integers(data.num_factors - 1)
    f1, f2 = data.sample_factors(batch, rng), data.sample_factors(batch, rng)
    f2[:, k + 1] = f1[:, k + 1]
    z1 = encode(data.images_from_factors(f1))
    z2 = encode(data.images_from_factors(f2))
    return np.mean(np.abs(z1 - z2), axis=0), k
  train = [point() for _ in range(num_train)]
  evals = [point() for _ in range(num_eval)]
  model = linear_model.LogisticRegression(random_state=0)
  model.fit(np.array([x for x, _ in train]), [y for _, y in train])
  return {"eval_accuracy": model.score(np.array([x for x, _ in evals]),
                                       [y for _, y in evals])}


def naive_factor_vae(data, encode, rng, batch=64, num_train=10000,
                     num_eval=5000, num_var=10000, threshold=0.05):
  """Votes accumulated one 64-image batch at a time."""
  codes, _ = _sample_codes(data, encode, num_var, rng, batch=num_var)
  global_var = np.var(codes, axis=0, ddof=1)
  active = np.sqrt(global_var) >= threshold

  def votes(num):
    table = np.zeros((data.num_factors - 1, codes.shape[1]), np.int64)
    for _ in range(num):
      k = rng.integers(data.num_factors - 1)
      f = data.sample_factors(batch, rng)
      f[:, k + 1] = f[0, k + 1]
      z = encode(data.images_from_factors(f))
      local = np.var(z, axis=0, ddof=1)
      table[k, np.argmin(local[active] / global_var[active])] += 1
    return table
  train, evals = votes(num_train), votes(num_eval)
  majority = np.argmax(train, axis=0)
  cols = np.arange(train.shape[1])
  return {"eval_accuracy": evals[majority, cols].sum() / evals.sum()}


def naive_code_metrics(data, encode, rng, watch, num_train=10000,
                       num_test=5000):
  """MIG, DCI (sklearn GBT), SAP and modularity on one sample."""
  with watch("sampling codes"):
    x, y = _sample_codes(data, encode, num_train, rng)
    xt, yt = _sample_codes(data, encode, num_test, rng)
  out = {}
  with watch("mig"):
    mi = _mutual_info(_histogram_bins(x), y)
    entropy = np.array([sk_metrics.mutual_info_score(c, c) for c in y.T])
    top = np.sort(mi, axis=0)[::-1]
    out["mig"] = float(np.mean((top[0] - top[1]) / entropy))
  with watch("dci"):
    importance = np.zeros((x.shape[1], y.shape[1]))
    accuracy = np.zeros((2, y.shape[1]))
    for k in range(y.shape[1]):
      model = ensemble.GradientBoostingClassifier().fit(x, y[:, k])
      importance[:, k] = np.abs(model.feature_importances_)
      accuracy[:, k] = (np.mean(model.predict(x) == y[:, k]),
                        np.mean(model.predict(xt) == yt[:, k]))
    out["dci_disentanglement"] = _naive_purity(importance)
    out["dci_completeness"] = _naive_purity(importance.T)
    out["dci_informativeness_test"] = float(accuracy[1].mean())
  with watch("sap"):
    acc = np.zeros((x.shape[1], y.shape[1]))
    for d in range(x.shape[1]):
      for k in range(y.shape[1]):
        model = svm.LinearSVC(C=0.01, class_weight="balanced")
        model.fit(x[:, d:d + 1], y[:, k])
        acc[d, k] = np.mean(model.predict(xt[:, d:d + 1]) == yt[:, k])
    ranked = np.sort(acc, axis=0)
    out["sap"] = float(np.mean(ranked[-1] - ranked[-2]))
  with watch("modularity"):
    out.update(_naive_modularity(x, y, xt, yt))
  return out, (x, y, xt, yt), importance


def _naive_purity(importance):
  """1 - entropy of each row, weighted by the rows' importance."""
  per_row = 1 - stats.entropy(importance.T + 1e-11, base=importance.shape[1])
  return float(np.sum(per_row * importance.sum(1) / importance.sum()))


def _naive_modularity(x, y, xt, yt):
  """Modularity from looped MI; explicitness with MultiLabelBinarizer AUC."""
  sq = _mutual_info(_histogram_bins(x), y)**2
  top = sq.max(axis=1)
  mod = np.where(top > 0, 1 - (sq.sum(1) - top) / (top * (y.shape[1] - 1)),
                 0)
  mean, std = x.mean(0), x.std(0)
  aucs = []
  for k in range(y.shape[1]):
    model = linear_model.LogisticRegression().fit((x - mean) / std, y[:, k])
    onehot = preprocessing.MultiLabelBinarizer().fit_transform(
        yt[:, k:k + 1])
    aucs.append(sk_metrics.roc_auc_score(
        onehot, model.predict_proba((xt - mean) / std)))
  return {"modularity": float(np.mean(mod)),
          "explicitness_test": float(np.mean(aucs))}


def run_naive(data, encode, seed):
  """Values, a Stopwatch, and the DCI codes and importances.

  Runs with one BLAS thread, as the package does, so that the speed-up
  measures the implementations rather than thread contention.
  """
  rng = np.random.default_rng(seed)
  values, watch = {}, Stopwatch()
  with threadpoolctl.threadpool_limits(1):
    for name, fn in (("beta_vae", naive_beta_vae),
                     ("factor_vae", naive_factor_vae)):
      with watch(name):
        values[name] = fn(data, encode, rng)["eval_accuracy"]
    code_values, codes, importance = naive_code_metrics(data, encode, rng,
                                                        watch)
  values.update(code_values)
  return values, watch, codes, importance


# The package's implementation, timed metric by metric.


class Stopwatch:
  """Wall-clock and process CPU seconds (all threads) of named steps."""

  def __init__(self):
    self.wall, self.cpu = {}, {}

  @contextlib.contextmanager
  def __call__(self, name: str):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
      yield
    finally:
      self.wall[name] = self.wall.get(name, 0.0) + (
          time.perf_counter() - wall)
      self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

  def timed(self, name: str, fn: Callable) -> Callable:
    """`fn`, with its calls added to step `name`."""
    def wrapped(*args):
      with self(name):
        return fn(*args)
    return wrapped

  def totals(self) -> tuple[float, float]:
    """Summed wall and CPU seconds of the steps not marked 'of which'."""
    keep = [k for k in self.wall if not k.startswith("of which")]
    return (sum(self.wall[k] for k in keep), sum(self.cpu[k] for k in keep))


def _headline(results: dict) -> dict:
  """The numbers both implementations report."""
  return {"beta_vae": results["beta_vae"]["eval_accuracy"],
          "factor_vae": results["factor_vae"]["eval_accuracy"],
          "mig": results["mig"]["mig"],
          "dci_disentanglement": results["dci"]["disentanglement"],
          "dci_completeness": results["dci"]["completeness"],
          "dci_informativeness_test": (
              results["dci"]["informativeness_test"]),
          "sap": results["sap"]["sap"],
          "modularity": results["modularity"]["modularity"],
          "explicitness_test": results["modularity"]["explicitness_test"]}


def run_fast(data, encode, key):
  """Results and a Stopwatch of `compute_all`, metric group by group."""
  watch, results = Stopwatch(), {}
  encoder = watch.timed("of which fake encoder", encode)
  rendered = data.render_seconds
  for group in (("beta_vae",), ("factor_vae",),
                ("mig", "dci", "sap", "modularity")):
    with watch(" + ".join(group)):
      results.update(metrics.compute_all(data, encoder, key, metrics=group))
  watch.wall["of which rendering"] = data.render_seconds - rendered
  return results, watch


def compare_gbt(codes, sklearn_importance, data, encode, key):
  """LightGBM's DCI on the naive run's codes, and on a second sample."""
  x, y, xt, yt = codes
  same = scores.dci(x, y, xt, yt, gbt="lightgbm")
  draws, _ = sampling.sample_codes(
      data, encode, sampling.rng_from_key(jax.random.fold_in(key, 1),
                                          "codes"), (10000, 5000))
  (x2, y2), (xt2, yt2) = [(c[0], f) for c, f in draws]
  other = scores.dci(x2, y2, xt2, yt2, gbt="lightgbm")
  gap = np.abs(np.array(same["importance_matrix"]) - sklearn_importance)
  keys = ("disentanglement", "completeness", "informativeness_test")
  return {"lightgbm, naive's sample": {k: same[k] for k in keys},
          "lightgbm, another sample": {k: other[k] for k in keys},
          "max |importance gap| to sklearn, same sample": float(gap.max()),
          "max |importance gap| between samples, lightgbm": float(np.abs(
              np.array(same["importance_matrix"])
              - np.array(other["importance_matrix"])).max())}


def print_table(report: dict) -> None:
  """Times and values side by side."""
  fast, naive = report["fast"], report["naive"]
  print(f"\n{'metric':24s}{'fast value':>12s}{'naive value':>13s}")
  for name, value in fast["values"].items():
    other = naive["values"].get(name, float("nan"))
    print(f"{name:24s}{value:12.4f}{other:13.4f}")
  for label, run in (("fast", fast), ("naive", naive)):
    print(f"\n{label + ' step':40s}{'wall s':>9s}{'cpu s':>9s}")
    for name, wall in run["wall_s"].items():
      cpu = run["cpu_s"].get(name, float("nan"))
      print(f"{name:40s}{wall:9.2f}{cpu:9.2f}")
    print(f"{'total':40s}{run['total_wall_s']:9.2f}"
          f"{run['total_cpu_s']:9.2f}")
  if naive["wall_s"]:
    print(f"\nspeed-up: {naive['total_wall_s'] / fast['total_wall_s']:.1f}x "
          f"wall, {naive['total_cpu_s'] / fast['total_cpu_s']:.1f}x cpu")
  gbt = report["dci_backends"]
  if gbt:
    print(f"\n{'DCI on':28s}{'D':>8s}{'C':>8s}{'I_test':>8s}")
    naive_row = [naive["values"][f"dci_{k}"] for k in (
        "disentanglement", "completeness", "informativeness_test")]
    rows = [("sklearn, naive's sample", naive_row)] + [
        (name, list(gbt[name].values())) for name in (
            "lightgbm, naive's sample", "lightgbm, another sample")]
    for name, row in rows:
      print(f"{name:28s}" + "".join(f"{v:8.4f}" for v in row))
    for name, value in gbt.items():
      if name.startswith("max"):
        print(f"{name}: {value:.4f}")


def _summary(values: dict, watch: Stopwatch) -> dict:
  """A run's values and times, as written to the report."""
  wall, cpu = watch.totals()
  return {"values": values, "wall_s": watch.wall, "cpu_s": watch.cpu,
          "total_wall_s": wall, "total_cpu_s": cpu}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="benchmark_metrics.json")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--skip_naive", action="store_true")
  args = parser.parse_args()
  process.setup()  # As every entry point; both sides share it.
  data = FakeSprites()
  encode = make_encoder(data)
  key = jax.random.key(args.seed)
  fast_results, fast_watch = run_fast(data, encode, key)
  naive_values, naive_watch, gbt = {}, Stopwatch(), {}
  if not args.skip_naive:
    naive_values, naive_watch, codes, importance = run_naive(data, encode,
                                                             args.seed)
    gbt = compare_gbt(codes, importance, data, encode, key)
  report = {"fast": _summary(_headline(fast_results), fast_watch),
            "naive": _summary(naive_values, naive_watch),
            "dci_backends": gbt, "cpu_count": os.cpu_count()}
  with open(args.out, "w") as f:
    json.dump(report, f, indent=1)
  print_table(report)


if __name__ == "__main__":
  main()
