"""Gradient-boosted-tree importances for DCI: a fast and an exact backend.

The published DCI fits sklearn's GradientBoostingClassifier() per factor
(100 stages of depth-3 trees, learning rate 0.1, one tree per class per
stage on the log-loss residuals, split by friedman_mse, Newton-step leaves)
and reads its impurity importances. On a dSprites sample (10,000 points,
3 + 6 + 40 + 32 + 32 classes) that is 11,300 trees and five minutes on two
cores, nearly all of the suite's time.

The default backend, 'lightgbm', runs that same algorithm with LightGBM
growing the trees. Each round hands LightGBM the residuals with unit
hessians, which makes its split gain exactly the friedman_mse improvement
(and its gain importances sklearn's impurity importances), and every value
gets its own bin, so splits separate the training points exactly as
sklearn's do. Leaf values are sklearn's Newton steps, computed here.
What remains different is tie-breaking between equally good splits
(sklearn's depends on its random_state) and float32 gradients inside
LightGBM; `benchmarks.metrics_speed` and the tests compare the two on the
same codes. Two shortcuts were measured on dSprites-sized codes and rejected:
LightGBM's own multiclass objective (Newton-gain splits) moved
disentanglement and completeness by 0.07, and 255 quantile bins moved them
by up to 0.005 and informativeness by 0.01, while their sampling noise
(new draws of the 10,000 / 5,000 points) is below 0.001 and 0.003.
gbt='sklearn' runs the published estimator itself.

Factors are fitted in parallel threads, the most classes first (both
libraries release the GIL while growing trees), each with one BLAS/OpenMP
thread: the fits are too small to gain from more, and on a busy machine
spinning threads cost more than they save.
"""

from concurrent import futures
import os

import numpy as np
from sklearn import ensemble
import threadpoolctl

DEFAULT = "lightgbm"

_STAGES = 100
_LEARNING_RATE = 0.1
_MAX_LEAVES = 8

DESCRIPTIONS = {
    "lightgbm": "importances = impurity importances of sklearn's "
                "GradientBoostingClassifier() algorithm (100 stages, "
                "depth 3, learning rate 0.1, friedman_mse splits, Newton "
                "leaves) with trees grown by LightGBM on exact bins, per "
                "factor; accuracy of its predictions",
    "sklearn": "importances = impurity importances of sklearn "
               "GradientBoostingClassifier() per factor; accuracy of its "
               "predictions (the published estimator)",
}


def importance_matrix(x_train: np.ndarray, y_train: np.ndarray,
                      x_test: np.ndarray, y_test: np.ndarray,
                      backend: str = DEFAULT, seed: int = 0
                      ) -> tuple[np.ndarray, float, float]:
  """(D, K) importances and mean train and test accuracy over factors."""
  if backend not in DESCRIPTIONS:
    raise ValueError(f"gbt must be one of {tuple(DESCRIPTIONS)}; "
                     f"got {backend!r}.")
  fit = _fit_lightgbm if backend == "lightgbm" else _fit_sklearn

  def one_factor(k: int) -> tuple[np.ndarray, float, float]:
    importance, train_pred, test_pred = fit(x_train, y_train[:, k], x_test,
                                            seed)
    return (importance, np.mean(train_pred == y_train[:, k]),
            np.mean(test_pred == y_test[:, k]))

  num_factors = y_train.shape[1]
  workers = min(num_factors, os.cpu_count() or 1)
  classes = [len(np.unique(column)) for column in y_train.T]
  order = np.argsort(classes)[::-1]
  with threadpoolctl.threadpool_limits(1), futures.ThreadPoolExecutor(
      workers) as pool:
    fits = dict(zip(order, pool.map(one_factor, order)))
  importance, train_acc, test_acc = zip(*(fits[k]
                                          for k in range(num_factors)))
  return (np.stack(importance, axis=1), float(np.mean(train_acc)),
          float(np.mean(test_acc)))


def _fit_sklearn(x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Importances and train and test predictions of the published model."""
  model = ensemble.GradientBoostingClassifier(random_state=seed).fit(x, y)
  return (np.abs(model.feature_importances_), model.predict(x),
          model.predict(x_test))


class _Deviance:
  """sklearn's log-loss for gradient boosting: residuals and Newton steps.

  Two classes use one tree per stage on the log-odds; more use one tree per
  class on softmax logits, with Friedman's (K - 1) / K on each step.
  """

  def __init__(self, labels: np.ndarray, num_classes: int):
    prior = np.bincount(labels, minlength=num_classes) / len(labels)
    if num_classes == 2:
      self.targets = (labels == 1)[:, None].astype(np.float64)
      self.initial = np.log(prior[1:] / prior[:1])
      self.factor = 1.0
    else:
      self.targets = (labels[:, None] == np.arange(num_classes)).astype(
          np.float64)
      self.initial = np.log(prior)
      self.factor = (num_classes - 1) / num_classes

  @property
  def trees_per_stage(self) -> int:
    return self.targets.shape[1]

  def probabilities(self, raw: np.ndarray) -> np.ndarray:
    if self.trees_per_stage == 1:
      return 1 / (1 + np.exp(-raw))
    exp = np.exp(raw - raw.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)

  def predict(self, raw: np.ndarray) -> np.ndarray:
    """Class indices of raw scores (ties to the lower class, as sklearn)."""
    if self.trees_per_stage == 1:
      return (raw[:, 0] > 0).astype(int)
    return raw.argmax(axis=1)

  def leaf_values(self, leaves: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """(T, L) Newton steps mean(residual) / mean(p (1 - p)) per leaf."""
    p = self.probabilities(raw)
    num_trees = self.trees_per_stage
    cells = (leaves + _MAX_LEAVES * np.arange(num_trees)).ravel()
    size = _MAX_LEAVES * num_trees
    residual = np.bincount(cells, (self.targets - p).ravel(), size)
    hessian = np.bincount(cells, (p * (1 - p)).ravel(), size)
    count = np.maximum(np.bincount(cells, minlength=size), 1)
    # sklearn's _safe_divide: no step where the mean hessian underflows.
    flat = np.abs(hessian / count) < 1e-150
    step = self.factor * residual / np.where(flat, 1.0, hessian)
    return np.where(flat, 0.0, step).reshape(num_trees, _MAX_LEAVES)


def _fit_lightgbm(x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """sklearn's gradient boosting with LightGBM growing the trees.

  LightGBM fits each tree to the residuals with unit hessians, so its split
  gain is sklearn's friedman_mse improvement; the leaf values are sklearn's
  Newton steps, kept here (LightGBM's own leaf values are never used).
  Training points are routed through each new tree from its dump: asking
  LightGBM to predict between rounds makes every later round much slower.
  """
  if np.all(x == x[:1]):
    # LightGBM needs a latent that varies; with none, sklearn's trees are
    # single leaves and cheap.
    return _fit_sklearn(x, y, x_test, seed)
  lightgbm = _import_lightgbm()
  classes, labels = np.unique(y, return_inverse=True)
  loss = _Deviance(labels, len(classes))
  num_trees = loss.trees_per_stage
  binning = _binning(len(x))
  booster = lightgbm.Booster(
      params=dict(binning, **_lightgbm_params(num_trees, seed)),
      train_set=lightgbm.Dataset(x, params=binning))
  raw = np.tile(loss.initial, (len(x), 1))
  columns = np.arange(num_trees)
  values = np.zeros((0, num_trees, _MAX_LEAVES))
  for stage in range(_STAGES):
    residual = loss.targets - loss.probabilities(raw)
    gradient = -residual if num_trees > 1 else -residual[:, 0]
    if booster.update(fobj=lambda *_, g=gradient: (g, np.ones_like(g))):
      break  # No tree can split any more; sklearn's later steps are zero.
    leaves = _route(booster.dump_model(start_iteration=stage,
                                       num_iteration=1)["tree_info"], x)
    step = loss.leaf_values(leaves, raw) * _LEARNING_RATE
    values = np.concatenate([values, step[None]])
    raw += step[columns, leaves]
  test_raw = np.tile(loss.initial, (len(x_test), 1))
  if len(values):
    test_leaves = booster.predict(x_test, pred_leaf=True).reshape(
        len(x_test), len(values), num_trees)
    test_raw += np.sum(values[np.arange(len(values))[:, None], columns,
                              test_leaves], axis=1)
  gains = booster.feature_importance("gain").astype(np.float64)
  importance = gains / gains.sum() if gains.sum() > 0 else gains
  return (importance, classes[loss.predict(raw)],
          classes[loss.predict(test_raw)])


def _route(trees: list[dict], x: np.ndarray) -> np.ndarray:
  """(N, T) leaf index of each row of x in each dumped LightGBM tree."""
  feature, threshold, child = _tree_arrays(trees)
  num_nodes = feature.shape[1]
  x_flat = np.ascontiguousarray(x).ravel()
  row_start = np.arange(len(x))[:, None] * x.shape[1]
  tree_start = np.arange(len(trees)) * num_nodes
  node = np.broadcast_to(child[:, 0], (len(x), len(trees))).copy()
  while np.any(node >= 0):
    inner = tree_start + np.maximum(node, 0)
    value = x_flat.take(row_start + feature.take(inner))
    side = (value > threshold.take(inner)).astype(int)
    step = child[:, 1:].take(2 * inner + side)
    node = np.where(node >= 0, step, node)
  return ~node


def _tree_arrays(trees: list[dict]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Split feature, threshold and [root, (left, right) per split] arrays.

  Nodes are LightGBM's split indices; a leaf is stored as ~leaf_index, so
  a tree that never split has root ~0.
  """
  size = _MAX_LEAVES - 1
  feature = np.zeros((len(trees), size), dtype=int)
  threshold = np.zeros((len(trees), size))
  child = np.zeros((len(trees), 1 + 2 * size), dtype=int)
  node_id = lambda n: n.get("split_index", ~n.get("leaf_index", 0))
  for t, tree in enumerate(trees):
    stack = [tree["tree_structure"]]
    child[t, 0] = node_id(stack[0])
    while stack:
      node = stack.pop()
      if "split_index" not in node:
        continue
      if node["decision_type"] != "<=":
        raise ValueError(f"unexpected split {node['decision_type']!r}.")
      i = node["split_index"]
      feature[t, i], threshold[t, i] = node["split_feature"], node[
          "threshold"]
      child[t, 1 + 2 * i] = node_id(node["left_child"])
      child[t, 2 + 2 * i] = node_id(node["right_child"])
      stack += [node["left_child"], node["right_child"]]
  return feature, threshold, child


def _import_lightgbm():
  """The lightgbm module, or an error that says how to do without it."""
  try:
    import lightgbm  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("gbt='lightgbm' needs `pip install lightgbm`; "
                      "gbt='sklearn' runs without it, slowly.") from e
  return lightgbm


def _binning(num_points: int) -> dict:
  """A bin per distinct value, so splits are exact as sklearn's."""
  return {"max_bin": max(num_points, 255), "min_data_in_bin": 1,
          "verbose": -1}


def _lightgbm_params(num_trees: int, seed: int) -> dict:
  """Trees shaped as sklearn's: depth 3, leaves down to one point."""
  return dict(objective="none", num_class=num_trees,
              learning_rate=_LEARNING_RATE, max_depth=3,
              num_leaves=_MAX_LEAVES, min_data_in_leaf=1,
              min_sum_hessian_in_leaf=0.0, min_gain_to_split=0.0,
              lambda_l1=0.0, lambda_l2=0.0, bagging_fraction=1.0,
              feature_fraction=1.0, num_threads=1, deterministic=True,
              force_col_wise=True, seed=seed)
