"""Gradient-boosted-tree importances for DCI: a fast and an exact backend.

The published DCI fits sklearn's GradientBoostingClassifier() per factor
(100 stages of depth-3 trees, learning rate 0.1, one tree per class per
stage) and reads its impurity importances. On a dSprites sample (10,000
points, 3 + 6 + 40 + 32 + 32 classes) that is over 11,000 exact trees and
takes minutes on two cores, most of the whole suite's time.

The default backend, 'lightgbm', grows the same ensemble: 100 rounds of
one tree per class, learning rate 0.1, depth 3 (8 leaves), every row and
latent, no regularisation, leaves down to one point, importances summed
split gains normalised per factor as sklearn's are. It differs in two
ways: it splits on at most 255 quantile bins of each latent instead of
every threshold, and scores splits by the Newton gain of the log-loss
instead of the squared error of its gradient. So its importances agree
with sklearn's within sampling noise, not exactly; the benchmark in
experiments/benchmark_metrics.py compares them on the same codes.
gbt='sklearn' runs the exact published estimator.

Factors are fitted in parallel threads (both libraries release the GIL
while growing trees), each with one BLAS/OpenMP thread: the fits are too
small to gain from more, and on a busy machine spinning threads cost more
than they save.
"""

from concurrent import futures
import os

import numpy as np
from sklearn import ensemble
import threadpoolctl

DEFAULT = "lightgbm"

DESCRIPTIONS = {
    "lightgbm": "importances = normalised split gains of LightGBM, 100 "
                "rounds, learning rate 0.1, depth 3, no subsampling or "
                "regularisation, per factor; accuracy of its predictions "
                "(fast stand-in for sklearn GradientBoostingClassifier)",
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
    model, importance = fit(x_train, y_train[:, k], seed)
    return (importance,
            np.mean(model.predict(x_train) == y_train[:, k]),
            np.mean(model.predict(x_test) == y_test[:, k]))

  num_factors = y_train.shape[1]
  workers = min(num_factors, os.cpu_count() or 1)
  with threadpoolctl.threadpool_limits(1), futures.ThreadPoolExecutor(
      workers) as pool:
    importance, train_acc, test_acc = zip(*pool.map(one_factor,
                                                    range(num_factors)))
  return (np.stack(importance, axis=1), float(np.mean(train_acc)),
          float(np.mean(test_acc)))


def _fit_sklearn(x: np.ndarray, y: np.ndarray, seed: int):
  """sklearn's GradientBoostingClassifier() and its importances."""
  model = ensemble.GradientBoostingClassifier(random_state=seed).fit(x, y)
  return model, np.abs(model.feature_importances_)


def _fit_lightgbm(x: np.ndarray, y: np.ndarray, seed: int):
  """LightGBM with sklearn's ensemble shape, and normalised gains."""
  try:
    import lightgbm  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("gbt='lightgbm' needs `pip install lightgbm`; "
                      "gbt='sklearn' runs without it, slowly.") from e
  model = lightgbm.LGBMClassifier(
      n_estimators=100, learning_rate=0.1, max_depth=3, num_leaves=8,
      min_child_samples=1, min_child_weight=1e-12, min_split_gain=0.0,
      reg_alpha=0.0, reg_lambda=0.0, subsample=1.0, colsample_bytree=1.0,
      importance_type="gain", random_state=seed, n_jobs=1,
      deterministic=True, force_row_wise=True, verbose=-1).fit(x, y)
  gains = np.asarray(model.feature_importances_, dtype=np.float64)
  total = gains.sum()
  return model, gains / total if total > 0 else gains
