"""Disentanglement scores on arrays of codes and factor classes.

`codes` are (N, D) floats and `factors` (N, K) integer classes, one column
per factor that varies. Each score returns a dict of named numbers plus a
'settings' entry saying how they were computed, because values from
different estimators (above all MIG's) are not comparable. Definitions and
defaults are those of Locatello et al. 2019 (disentanglement_lib's
unsupervised_study_v1); where ours differ, the docstring says so.

Histograms, mutual information and vote tables are vectorised: all D * K
contingency tables come from one matrix product of one-hot encodings.
"""

from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn import linear_model
from sklearn import metrics as sk_metrics
import threadpoolctl

from betavae_jax import metric_names
from betavae_jax.evaluation import gbt as gbt_lib
from betavae_jax.evaluation import linear_svm

CODE_METRICS = metric_names.CODE_METRICS

HISTOGRAM = ("each latent cut into {} equal-width bins between its sample "
             "min and max (np.histogram edges, np.digitize), discrete MI in "
             "nats against the factor classes")


def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
  """Bin numbers 1..num_bins of each latent over its own range.

  Equals np.digitize(z, np.histogram(z, num_bins)[1][:-1]) for every column
  z, the published histogram discretizer, including np.histogram's edge
  dtype and its +-0.5 range for a constant latent.
  """
  codes = np.asarray(codes)
  if not np.issubdtype(codes.dtype, np.floating):
    codes = codes.astype(np.float64)
  low, high = codes.min(axis=0), codes.max(axis=0)
  flat = low == high
  low = np.where(flat, low - 0.5, low).astype(codes.dtype)
  high = np.where(flat, high + 0.5, high).astype(codes.dtype)
  edges = np.linspace(low, high, num_bins + 1, dtype=codes.dtype)[:-1]
  return np.sum(codes[:, :, None] >= edges.T[None], axis=2)


def _dense_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
  """Columns relabelled to 0..L-1, and the largest L over columns."""
  dense = np.empty(labels.shape, dtype=np.int64)
  for k in range(labels.shape[1]):
    _, dense[:, k] = np.unique(labels[:, k], return_inverse=True)
  return dense, int(dense.max()) + 1


def _one_hot(labels: np.ndarray, levels: int) -> np.ndarray:
  """(N, C) labels in [0, levels) -> (N, C * levels) float32 indicators."""
  n, c = labels.shape
  out = np.zeros((n, c * levels), dtype=np.float32)
  out[np.arange(n)[:, None], labels + levels * np.arange(c)] = 1.0
  return out


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """(A, B, La, Lb) joint counts of every column of a with every one of b."""
  a, la = _dense_labels(a)
  b, lb = _dense_labels(b)
  # float32 counts are exact below 2**24 samples.
  counts = _one_hot(a, la).T @ _one_hot(b, lb)
  return counts.reshape(a.shape[1], la, b.shape[1], lb).transpose(0, 2, 1, 3)


def mutual_information(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """(A, B) discrete mutual information in nats between label columns."""
  joint = contingency(a, b).astype(np.float64)
  joint /= joint.sum(axis=(2, 3), keepdims=True)
  outer = joint.sum(axis=3, keepdims=True) * joint.sum(axis=2, keepdims=True)
  nonzero = joint > 0
  terms = np.zeros_like(joint)
  terms[nonzero] = joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])
  # Like sklearn's mutual_info_score, round-off below zero is clipped.
  return np.maximum(terms.sum(axis=(2, 3)), 0.0)


def entropy(labels: np.ndarray) -> np.ndarray:
  """(K,) discrete entropy in nats of each label column."""
  dense, levels = _dense_labels(labels)
  counts = np.stack([np.bincount(column, minlength=levels)
                     for column in dense.T])
  p = counts / labels.shape[0]
  logs = np.log(np.where(p > 0, p, 1.0))
  return -np.sum(p * logs, axis=1)


def _check(codes: np.ndarray, factors: np.ndarray,
           min_latents: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """Validated (N, D) float codes and (N, K) integer factors."""
  codes, factors = np.asarray(codes), np.asarray(factors)
  if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
    raise ValueError("codes must be (N, D) and factors (N, K); got "
                     f"{codes.shape} and {factors.shape}.")
  if not np.issubdtype(factors.dtype, np.integer):
    raise ValueError("factors must hold integer classes.")
  if codes.shape[1] < min_latents:
    raise ValueError(f"this score needs at least {min_latents} latents.")
  constant = np.flatnonzero(np.all(factors == factors[:1], axis=0))
  if factors.shape[1] < 2 or constant.size:
    raise ValueError("scores need at least two factors, none constant in "
                     f"the sample; constant columns: {constant.tolist()}.")
  return codes, factors


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
  """Mutual Information Gap (Chen et al. 2018), discrete estimator.

  Per factor, the gap between the two latents sharing most information with
  it, over the factor's entropy; averaged over factors.

  Args:
    codes: (N, D) codes, D >= 2; the study uses N = 10,000.
    factors: (N, K) factor classes.
    num_bins: histogram bins per latent.

  Returns:
    'mig', 'mig_per_factor' and 'settings'.
  """
  codes, factors = _check(codes, factors, min_latents=2)
  info = mutual_information(discretize(codes, num_bins), factors)
  top_two = np.sort(info, axis=0)[-2:]
  gap = (top_two[1] - top_two[0]) / entropy(factors)
  return {"mig": float(gap.mean()), "mig_per_factor": gap.tolist(),
          "settings": {"definition": "Chen et al. 2018",
                       "estimator": HISTOGRAM.format(num_bins),
                       "num_bins": num_bins, "num_points": len(codes)}}


def modularity_explicitness(codes_train: np.ndarray,
                            factors_train: np.ndarray,
                            codes_test: np.ndarray, factors_test: np.ndarray,
                            num_bins: int = 20, seed: int = 0) -> dict:
  """Modularity and explicitness (Ridgeway & Mozer 2018).

  Modularity: 1 - (sum of squared MI but the top) / (top * (K - 1)) per
  latent from histogram MI on the training codes (0 for a latent with no
  information), averaged over latents. Explicitness: one logistic
  regression (sklearn defaults) per factor on codes standardised with the
  training mean and std, scored by the macro one-vs-rest ROC-AUC over
  classes; averaged over factors. Unlike disentanglement_lib, a latent with
  zero std is left unscaled instead of producing NaN, and a class absent
  from the scored set is skipped instead of misaligning the AUC columns.

  Returns:
    'modularity', 'explicitness_train', 'explicitness_test', 'settings'.
  """
  codes_train, factors_train = _check(codes_train, factors_train)
  codes_test, factors_test = _check(codes_test, factors_test)
  info = mutual_information(discretize(codes_train, num_bins), factors_train)
  mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
  std = np.where(std > 0, std, 1.0)
  train, test = (codes_train - mean) / std, (codes_test - mean) / std
  aucs = np.array([
      _explicitness(train, factors_train[:, k], test, factors_test[:, k],
                    seed) for k in range(factors_train.shape[1])])
  return {"modularity": _modularity(info),
          "explicitness_train": float(aucs[:, 0].mean()),
          "explicitness_test": float(aucs[:, 1].mean()),
          "settings": {
              "definition": "Ridgeway & Mozer 2018",
              "modularity_estimator": HISTOGRAM.format(num_bins),
              "explicitness_estimator": "sklearn LogisticRegression() on "
                                        "standardised codes, macro "
                                        "one-vs-rest ROC-AUC",
              "num_bins": num_bins, "num_train": len(codes_train),
              "num_test": len(codes_test)}}


def _modularity(info: np.ndarray) -> float:
  """Mean per-latent modularity of a (D, K) mutual information matrix."""
  squared = np.square(info)
  top = squared.max(axis=1)
  with np.errstate(divide="ignore", invalid="ignore"):
    deviation = (squared.sum(axis=1) - top) / (top * (info.shape[1] - 1))
  return float(np.mean(np.where(top > 0, 1.0 - deviation, 0.0)))


def _explicitness(x_train: np.ndarray, y_train: np.ndarray,
                  x_test: np.ndarray, y_test: np.ndarray,
                  seed: int) -> tuple[float, float]:
  """Train and test macro ROC-AUC of a logistic regression for one factor."""
  model = _fit_logistic_regression(x_train, y_train, seed)
  return (_macro_auc(model, x_train, y_train),
          _macro_auc(model, x_test, y_test))


def _fit_logistic_regression(x: np.ndarray, y: np.ndarray,
                             seed: int) -> linear_model.LogisticRegression:
  """sklearn's default LogisticRegression, with one BLAS thread.

  The problems are small; on a busy machine, BLAS threads spinning for
  them make each fit several times slower.
  """
  with threadpoolctl.threadpool_limits(1):
    return linear_model.LogisticRegression(random_state=seed).fit(x, y)


def _macro_auc(model: linear_model.LogisticRegression, x: np.ndarray,
               y: np.ndarray) -> float:
  """Mean one-vs-rest ROC-AUC over classes both present and absent in y."""
  proba = model.predict_proba(x)
  truth = y[:, None] == model.classes_[None]
  scored = truth.any(axis=0) & ~truth.all(axis=0)
  return float(sk_metrics.roc_auc_score(truth[:, scored], proba[:, scored],
                                        average="macro"))


def dci(codes_train: np.ndarray, factors_train: np.ndarray,
        codes_test: np.ndarray, factors_test: np.ndarray,
        gbt: str = gbt_lib.DEFAULT, seed: int = 0) -> dict:
  """Disentanglement, completeness, informativeness (Eastwood & Williams).

  A gradient-boosted-tree classifier per factor gives a (D, K) importance
  matrix (each column sums to one). Disentanglement is 1 - entropy (base K)
  of each latent's importances over factors, weighted by the latent's share
  of importance; completeness is 1 - entropy (base D) of each factor's
  importances over latents, weighted likewise. Informativeness is the
  classifiers' mean train and test accuracy. See `gbt` for the backends.

  Returns:
    'disentanglement', 'completeness', 'informativeness_train',
    'informativeness_test', 'importance_matrix' (D x K), 'settings'.
  """
  codes_train, factors_train = _check(codes_train, factors_train, 2)
  codes_test, factors_test = _check(codes_test, factors_test, 2)
  importance, train_acc, test_acc = gbt_lib.importance_matrix(
      codes_train, factors_train, codes_test, factors_test, gbt, seed)
  return {"disentanglement": _weighted_purity(importance),
          "completeness": _weighted_purity(importance.T),
          "informativeness_train": train_acc,
          "informativeness_test": test_acc,
          "importance_matrix": importance.tolist(),
          "settings": {"definition": "Eastwood & Williams 2018",
                       "estimator": gbt_lib.DESCRIPTIONS[gbt],
                       "num_train": len(codes_train),
                       "num_test": len(codes_test)}}


def _weighted_purity(importance: np.ndarray) -> float:
  """sum_i w_i (1 - H_base(row i)), w_i the rows' shares of importance.

  The 1e-11 floor and the uniform weights of an all-zero matrix follow the
  published code.
  """
  rows = importance + 1e-11
  p = rows / rows.sum(axis=1, keepdims=True)
  purity = 1.0 + np.sum(p * np.log(p), axis=1) / np.log(importance.shape[1])
  if importance.sum() == 0:
    importance = np.ones_like(importance)
  weights = importance.sum(axis=1) / importance.sum()
  return float(np.sum(purity * weights))


def sap(codes_train: np.ndarray, factors_train: np.ndarray,
        codes_test: np.ndarray, factors_test: np.ndarray,
        c: float = 0.01) -> dict:
  """Separated Attribute Predictability (Kumar et al. 2018), discrete.

  For every (latent, factor) a linear SVM on that one latent (squared
  hinge, C = 0.01, balanced class weights, as sklearn's LinearSVC) is
  scored by test accuracy; SAP is the mean over factors of the gap between
  the two best latents. See `linear_svm` for the vectorised solver.

  Returns:
    'sap', 'score_matrix' (D x K test accuracies), 'settings'.
  """
  codes_train, factors_train = _check(codes_train, factors_train, 2)
  codes_test, factors_test = _check(codes_test, factors_test, 2)
  accuracy = linear_svm.single_latent_accuracy(
      codes_train, factors_train, codes_test, factors_test, c)
  top_two = np.sort(accuracy, axis=0)[-2:]
  return {"sap": float(np.mean(top_two[1] - top_two[0])),
          "score_matrix": accuracy.tolist(),
          "settings": {"definition": "Kumar et al. 2018",
                       "estimator": linear_svm.DESCRIPTION.format(c),
                       "num_train": len(codes_train),
                       "num_test": len(codes_test)}}


def beta_vae_from_features(train_features: np.ndarray,
                           train_labels: np.ndarray,
                           eval_features: np.ndarray,
                           eval_labels: np.ndarray, seed: int = 0) -> dict:
  """BetaVAE score (Higgins et al. 2017) from difference features.

  A logistic regression (sklearn defaults) predicts which factor a pair
  batch shared from its mean |z1 - z2|; reports its accuracies.
  """
  model = _fit_logistic_regression(train_features, train_labels, seed)
  return {"train_accuracy": float(model.score(train_features, train_labels)),
          "eval_accuracy": float(model.score(eval_features, eval_labels))}


def factor_vae_from_variances(train_variances: np.ndarray,
                              train_labels: np.ndarray,
                              eval_variances: np.ndarray,
                              eval_labels: np.ndarray,
                              global_variances: np.ndarray,
                              num_factors: int,
                              prune_threshold: float = 0.05) -> dict:
  """FactorVAE score (Kim & Mnih 2018) from per-vote latent variances.

  Latents with global std below `prune_threshold` are dropped; each vote is
  the active latent of least variance relative to its global variance;
  the classifier maps each latent to its majority factor.
  'num_active_dims' counts the kept latents (disentanglement_lib's reports
  the total number of latents instead).
  """
  active = np.sqrt(global_variances) >= prune_threshold
  if not active.any():
    return {"train_accuracy": 0.0, "eval_accuracy": 0.0,
            "num_active_dims": 0}
  train_votes = _vote_table(train_variances[:, active] / global_variances[
      active], train_labels, num_factors)
  eval_votes = _vote_table(eval_variances[:, active] / global_variances[
      active], eval_labels, num_factors)
  majority = train_votes.argmax(axis=0)
  columns = np.arange(train_votes.shape[1])
  return {"train_accuracy": float(train_votes[majority, columns].sum()
                                  / train_votes.sum()),
          "eval_accuracy": float(eval_votes[majority, columns].sum()
                                 / eval_votes.sum()),
          "num_active_dims": int(active.sum())}


def _vote_table(ratios: np.ndarray, labels: np.ndarray,
                num_factors: int) -> np.ndarray:
  """(K, D) counts of (fixed factor, latent of least relative variance)."""
  num_latents = ratios.shape[1]
  cells = labels * num_latents + np.argmin(ratios, axis=1)
  return np.bincount(cells, minlength=num_factors * num_latents).reshape(
      num_factors, num_latents)


def score_codes(codes_train: np.ndarray, factors_train: np.ndarray,
                codes_test: np.ndarray, factors_test: np.ndarray,
                metrics: Sequence[str] = CODE_METRICS,
                gbt: str = gbt_lib.DEFAULT, seed: int = 0) -> dict | list:
  """The code-based scores of one model, or of each of P models.

  Args:
    codes_train: (N, D) codes of one model, or (P, N, D) of P models (all
      computed on the same images).
    factors_train: (N, K) factor classes of those images.
    codes_test: (M, D) or (P, M, D) held-out codes.
    factors_test: (M, K) factor classes.
    metrics: any of 'mig' (on the training codes), 'dci', 'sap',
      'modularity'.
    gbt: DCI's tree backend.
    seed: seed of the sklearn estimators.

  Returns:
    {metric: result dict} for (N, D) codes; a list of P of them otherwise.
  """
  unknown = set(metrics) - set(CODE_METRICS)
  if unknown:
    raise ValueError(f"unknown metrics {sorted(unknown)}; "
                     f"choose from {CODE_METRICS}.")
  train, test = np.asarray(codes_train), np.asarray(codes_test)
  if train.ndim == 3:
    return [score_codes(a, factors_train, b, factors_test, metrics, gbt,
                        seed) for a, b in zip(train, test)]
  args = (train, factors_train, test, factors_test)
  scorers = {"mig": lambda: mig(train, factors_train),
             "dci": lambda: dci(*args, gbt=gbt, seed=seed),
             "sap": lambda: sap(*args),
             "modularity": lambda: modularity_explicitness(*args, seed=seed)}
  return {name: scorers[name]() for name in metrics}


def factor_correlation(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
  """|Spearman rho| of every latent with every factor: (D, K).

  Not a published score: a readable map of which latent carries which
  factor (a monotone response gives |rho| near 1). A constant latent or
  factor correlates with nothing (0, not NaN).
  """
  codes = np.asarray(codes, np.float64)
  factors = np.asarray(factors)
  _check(codes, factors)
  ranks = np.concatenate([stats.rankdata(codes, axis=0),
                          stats.rankdata(factors, axis=0)], axis=1)
  ranks -= ranks.mean(axis=0)
  norms = np.linalg.norm(ranks, axis=0)
  with np.errstate(invalid="ignore", divide="ignore"):
    rho = (ranks.T @ ranks) / np.outer(norms, norms)
  d = codes.shape[1]
  return np.nan_to_num(np.abs(rho[:d, d:]))
