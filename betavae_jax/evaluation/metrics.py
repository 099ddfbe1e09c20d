"""The disentanglement metric suite: sampling entry points and array scores.

Two levels, both with the defaults of Locatello et al. 2019
(disentanglement_lib's unsupervised_study_v1):

- on arrays: `mig`, `dci`, `sap`, `modularity_explicitness` (from
  `scores`), and `score_codes` for (P, N, D) codes of a population;
- on a `GroundTruthData` and a `representation_fn` (uint8 NHWC images ->
  codes): `beta_vae_score`, `factor_vae_score` and `compute_all`.

Scores are computed on whatever `representation_fn` returns: pass the
posterior mean (the published default) or a sample, and name it with
`compute_all(..., representation=...)` so the written settings say which.

A population is scored at once by a `representation_fn` that returns
(P, N, D) codes (or a list of P arrays), e.g. a jitted, vmapped encoder:
every model sees the same images, rendered once, and results come back as
a list of P dicts. Factors with a single class (dSprites' colour) are left
out, as in the published study.

Example:
  key = jax.random.key(0)
  results = compute_all(data, lambda x: encode(params, x)[0], key)
  print(results["mig"]["mig"], results["mig"]["settings"])
"""

from collections.abc import Sequence

import jax
import numpy as np

from betavae_jax import metric_names
from betavae_jax.datasets import ground_truth
from betavae_jax.evaluation import gbt as gbt_lib
from betavae_jax.evaluation import sampling
from betavae_jax.evaluation import scores
from betavae_jax.evaluation.scores import CODE_METRICS
from betavae_jax.evaluation.scores import dci
from betavae_jax.evaluation.scores import mig
from betavae_jax.evaluation.scores import modularity_explicitness
from betavae_jax.evaluation.scores import sap
from betavae_jax.evaluation.scores import score_codes

__all__ = ["METRICS", "beta_vae_score", "compute_all", "compute_draws",
           "dci", "draw_keys", "factor_vae_score", "mig",
           "modularity_explicitness", "sap", "score_codes", "spread"]

METRICS = metric_names.METRICS
# Largest grid of cached codes (see compute_all): 1 GiB, e.g. dSprites for
# a population of 36 models with 10 latents.
CACHE_LIMIT_BYTES = 1 << 30

Result = dict | list[dict]


def _per_member(scores_by_member: Sequence[dict], settings: dict,
                population: bool) -> Result:
  """Adds settings to each member's scores; unwraps a single model."""
  out = [dict(s, settings=dict(settings)) for s in scores_by_member]
  return out if population else out[0]


def _fixed_factor_labels(data: ground_truth.GroundTruthData, num: int,
                         rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
  """Which varying factor each of `num` points fixes: (index into the
  varying factors, index into all factors)."""
  keep = sampling.varying_factors(data)
  labels = rng.integers(len(keep), size=num)
  return labels, keep[labels]


def _pair_factors(data: ground_truth.GroundTruthData, num: int,
                  batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
  """(num, 2 * batch_size, K) pairs sharing one factor, and its labels.

  Pair i is rows i and batch_size + i: each pair shares its own value of
  the point's fixed factor.
  """
  labels, fixed = _fixed_factor_labels(data, num, rng)
  first = data.sample_factors(num * batch_size, rng).reshape(
      num, batch_size, -1)
  second = data.sample_factors(num * batch_size, rng).reshape(
      num, batch_size, -1)
  points = np.arange(num)
  second[points, :, fixed] = first[points, :, fixed]
  return np.concatenate([first, second], axis=1), labels


def _mean_abs_difference(codes: np.ndarray) -> np.ndarray:
  """(P, m, 2B, D) pair codes -> (P, m, D) mean |z1 - z2| over pairs."""
  first, second = np.split(codes, 2, axis=2)
  return np.mean(np.abs(first - second), axis=2)


def beta_vae_score(data: ground_truth.GroundTruthData,
                   representation_fn: sampling.RepresentationFn,
                   key: jax.Array, batch_size: int = 64,
                   num_train: int = 10000, num_eval: int = 5000,
                   chunk_size: int = sampling.DEFAULT_CHUNK_SIZE) -> Result:
  """BetaVAE score (Higgins et al. 2017).

  Each point fixes one factor, chosen uniformly, draws `batch_size` pairs
  of images sharing it, and uses the mean |z1 - z2| over the pairs as the
  feature of a logistic regression (sklearn defaults) that predicts the
  fixed factor.

  Args:
    data: the ground-truth dataset.
    representation_fn: uint8 images -> (N, D) or (P, N, D) codes.
    key: JAX PRNG key; the same key gives the same score.
    batch_size: pairs per point.
    num_train: training points of the classifier.
    num_eval: evaluation points.
    chunk_size: images per call of `representation_fn` (results do not
      depend on it).

  Returns:
    'train_accuracy', 'eval_accuracy', 'settings'; a list of them for a
    population.
  """
  rng = sampling.rng_from_key(key, "beta_vae")
  feats, labels = [], []
  for num in (num_train, num_eval):
    factors, point_labels = _pair_factors(data, num, batch_size, rng)
    codes, population = sampling.encode_groups(
        data, representation_fn, factors, _mean_abs_difference, chunk_size)
    feats.append(codes)
    labels.append(point_labels)
  results = [scores.beta_vae_from_features(train, labels[0], evals,
                                           labels[1])
             for train, evals in zip(*feats)]
  settings = {"definition": "Higgins et al. 2017",
              "estimator": "sklearn LogisticRegression() on mean |z1 - z2| "
                           f"over {batch_size} pairs sharing one factor",
              "batch_size": batch_size, "num_train": num_train,
              "num_eval": num_eval}
  return _per_member(results, settings, population)


def _group_factors(data: ground_truth.GroundTruthData, num: int,
                   batch_size: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(num, batch_size, K) batches each sharing one factor's value."""
  labels, fixed = _fixed_factor_labels(data, num, rng)
  factors = data.sample_factors(num * batch_size, rng).reshape(
      num, batch_size, -1)
  points = np.arange(num)
  factors[points, :, fixed] = factors[points, :1, fixed]
  return factors, labels


def _sample_variance(codes: np.ndarray) -> np.ndarray:
  """(P, m, B, D) batch codes -> (P, m, D) variances (ddof = 1)."""
  return np.var(codes, axis=2, ddof=1)


def factor_vae_score(data: ground_truth.GroundTruthData,
                     representation_fn: sampling.RepresentationFn,
                     key: jax.Array, batch_size: int = 64,
                     num_train: int = 10000, num_eval: int = 5000,
                     num_variance_estimate: int = 10000,
                     prune_threshold: float = 0.05,
                     chunk_size: int = sampling.DEFAULT_CHUNK_SIZE
                     ) -> Result:
  """FactorVAE score (Kim & Mnih 2018).

  Global variances come from `num_variance_estimate` images; latents with
  std below `prune_threshold` are dropped. Each vote fixes one factor over
  `batch_size` images and votes for the active latent of least variance
  relative to its global variance; a majority-vote table maps latents to
  factors.

  Args: as `beta_vae_score`, plus `num_variance_estimate` and
    `prune_threshold`.

  Returns:
    'train_accuracy', 'eval_accuracy', 'num_active_dims', 'settings'; a
    list of them for a population.
  """
  rng = sampling.rng_from_key(key, "factor_vae")
  codes, _ = sampling.encode_factors(
      data, representation_fn, data.sample_factors(num_variance_estimate,
                                                   rng), chunk_size)
  global_variances = np.var(codes, axis=1, ddof=1)
  variances, labels = [], []
  for num in (num_train, num_eval):
    factors, point_labels = _group_factors(data, num, batch_size, rng)
    point_variances, population = sampling.encode_groups(
        data, representation_fn, factors, _sample_variance, chunk_size)
    variances.append(point_variances)
    labels.append(point_labels)
  num_factors = len(sampling.varying_factors(data))
  results = [scores.factor_vae_from_variances(
      train, labels[0], evals, labels[1], global_var, num_factors,
      prune_threshold)
             for train, evals, global_var in zip(*variances,
                                                 global_variances)]
  settings = {"definition": "Kim & Mnih 2018",
              "estimator": "majority vote of argmin variance / global "
                           f"variance over {batch_size} images sharing one "
                           "factor",
              "batch_size": batch_size, "num_train": num_train,
              "num_eval": num_eval,
              "num_variance_estimate": num_variance_estimate,
              "prune_threshold": prune_threshold}
  return _per_member(results, settings, population)


def compute_all(data: ground_truth.GroundTruthData,
                representation_fn: sampling.RepresentationFn,
                key: jax.Array, metrics: Sequence[str] = METRICS,
                num_train: int = 10000, num_test: int = 5000,
                gbt: str = gbt_lib.DEFAULT, representation: str = "mean",
                chunk_size: int = sampling.DEFAULT_CHUNK_SIZE,
                scale: float = 1.0) -> Result:
  """Every selected metric at the published defaults.

  MIG, DCI, SAP and modularity share one draw of `num_train` training and
  `num_test` test images (each is an independent uniform sample of the
  published size), so a model is encoded once for all four. Each metric
  uses its own stream of `key`, so it scores the same alone or with others.

  Args:
    data: the ground-truth dataset.
    representation_fn: uint8 images -> (N, D) or (P, N, D) codes.
    key: JAX PRNG key.
    metrics: names from METRICS.
    num_train: training points of the code-based metrics (MIG uses these).
    num_test: test points of DCI, SAP and explicitness.
    gbt: DCI's tree backend ('lightgbm' or the exact 'sklearn').
    representation: what `representation_fn` returns, e.g. 'mean' or
      'sample'; recorded in every metric's settings. With 'mean' the codes
      of each grid image are computed once (`sampling.CodeCache`) when the
      whole grid's codes fit in CACHE_LIMIT_BYTES.
    chunk_size: images per call of `representation_fn`.
    scale: multiplies the BetaVAE and FactorVAE points (1.0: the published
      10,000 / 5,000). They encode about a million images each at 1.0, so
      quick CPU studies use less; every result records the sizes it used.

  Returns:
    {metric: result dict}, or a list of P of them for a population.
  """
  unknown = set(metrics) - set(METRICS)
  if unknown:
    raise ValueError(f"unknown metrics {sorted(unknown)}; "
                     f"choose from {METRICS}.")
  if not 0 < scale <= 1:
    raise ValueError(f"scale={scale} must lie in (0, 1].")
  sized = lambda n: max(2, round(n * scale))
  if representation == "mean" and not isinstance(representation_fn,
                                                 sampling.CodeCache):
    representation_fn = sampling.CodeCache(data, representation_fn,
                                           CACHE_LIMIT_BYTES)
  by_metric = {}
  if "beta_vae" in metrics:
    by_metric["beta_vae"] = beta_vae_score(
        data, representation_fn, key, num_train=sized(10000),
        num_eval=sized(5000), chunk_size=chunk_size)
  if "factor_vae" in metrics:
    by_metric["factor_vae"] = factor_vae_score(
        data, representation_fn, key, num_train=sized(10000),
        num_eval=sized(5000), chunk_size=chunk_size)
  code_metrics = [m for m in metrics if m in CODE_METRICS]
  if code_metrics:
    # MIG alone needs no test images (its test arguments go unused).
    sizes = (num_train,) if code_metrics == ["mig"] else (num_train,
                                                          num_test)
    draws, population = sampling.sample_codes(
        data, representation_fn, sampling.rng_from_key(key, "codes"), sizes,
        chunk_size)
    (train, y_train), (test, y_test) = draws[0], draws[-1]
    members = score_codes(train, y_train, test, y_test, code_metrics, gbt)
    for name in code_metrics:
      by_metric[name] = [m[name] for m in members]
      if not population:
        by_metric[name] = by_metric[name][0]
  return _label(by_metric, representation, data)


def draw_keys(key: jax.Array, num_draws: int) -> list[jax.Array]:
  """The keys of repeated draws; the first is `key` itself, so one draw
  scores exactly what `compute_all(..., key)` scores."""
  return [key] + [jax.random.fold_in(key, d) for d in range(1, num_draws)]


def compute_draws(data: ground_truth.GroundTruthData,
                  representation_fn: sampling.RepresentationFn,
                  key: jax.Array, num_draws: int,
                  representation: str = "mean", **kwargs) -> list[Result]:
  """`compute_all` at `num_draws` keys: the scores' own sampling spread.

  One model's scores vary from draw to draw of the sampled points (MIG at
  10,000 points moves in the second decimal), so a single draw cannot tell
  close models apart. With the posterior mean one `CodeCache` serves every
  draw: each grid image is encoded once, and the extra draws cost only
  the metric fits.

  Returns:
    One `compute_all` result per draw, the first at `key`.
  """
  if num_draws < 1:
    raise ValueError(f"num_draws={num_draws} must be >= 1.")
  if representation == "mean":
    representation_fn = sampling.CodeCache(data, representation_fn,
                                           CACHE_LIMIT_BYTES)
  return [compute_all(data, representation_fn, k,
                      representation=representation, **kwargs)
          for k in draw_keys(key, num_draws)]


def spread(draws: Sequence[dict[str, float]]) -> dict[str, dict]:
  """Mean, standard deviation (ddof 1), min, max and values per score.

  Args:
    draws: one flat {score name: value} dict per draw, e.g. from
      `evaluate.flat_scores`.
  """
  names = sorted(set().union(*draws)) if draws else []
  out = {}
  for name in names:
    values = np.array([d[name] for d in draws if name in d], np.float64)
    out[name] = {"mean": float(values.mean()),
                 "std": float(values.std(ddof=1)) if len(values) > 1
                        else 0.0,
                 "min": float(values.min()), "max": float(values.max()),
                 "values": values.tolist()}
  return out


def _label(by_metric: dict, representation: str,
           data: ground_truth.GroundTruthData) -> Result:
  """Records the representation and factors; one dict per member."""
  factor_names = [data.factor_names[k]
                  for k in sampling.varying_factors(data)]
  first = next(iter(by_metric.values()), {})
  size = len(first) if isinstance(first, list) else 0
  members = [{name: result[p] for name, result in by_metric.items()}
             for p in range(size)] if size else [by_metric]
  for member in members:
    for result in member.values():
      result["settings"] = dict(result["settings"],
                                representation=representation,
                                factors=factor_names)
  return members if size else by_metric
