"""Single-latent linear SVMs for SAP, solved for all pairs at once.

SAP fits sklearn's LinearSVC(C=0.01, class_weight='balanced') on one latent
at a time. For each (latent, factor) that is one squared-hinge SVM per
class (one-vs-rest; a single one for two classes) whose intercept is an
extra feature of value 1, regularised like the weight. Following liblinear,
a one-vs-rest problem weighs its positive class n / (L n_c) and the rest 1;
a binary problem weighs each class n / (2 n_c).

With a single feature, each problem's active set (points with margin below
one) is a prefix or a suffix of the latent's sorted values, so after one
sort and one cumulative sum per latent, the objective, gradient and Hessian
at any (w, b) cost a binary search. Damped Newton then runs on all problems
together to the exact optimum. liblinear stops at a gradient tolerance, so
the two can disagree only on test points lying on a decision boundary.
"""

import numpy as np

DESCRIPTION = ("per (latent, factor) linear SVM on the single latent, "
               "squared hinge, C={}, balanced class weights, one-vs-rest, "
               "regularised intercept (sklearn LinearSVC), solved exactly; "
               "test accuracy")

_MAX_NEWTON_STEPS = 100
_MAX_HALVINGS = 30


def single_latent_accuracy(x_train: np.ndarray, y_train: np.ndarray,
                           x_test: np.ndarray, y_test: np.ndarray,
                           c: float) -> np.ndarray:
  """(D, K) test accuracy of an SVM on latent d predicting factor k."""
  x_train = np.asarray(x_train, dtype=np.float64)
  order = np.argsort(x_train, axis=0, kind="stable")
  sorted_x = np.take_along_axis(x_train, order, axis=0).T
  accuracy = np.empty((x_train.shape[1], y_train.shape[1]))
  for k in range(y_train.shape[1]):
    classes, labels = np.unique(y_train[:, k], return_inverse=True)
    problems = _Problems(sorted_x, labels[order.T], len(classes), c)
    w, b = problems.solve()
    scores = w[:, :, None] * x_test.T[:, None, :] + b[:, :, None]
    if len(classes) == 2:
      predicted = classes[(scores[:, 0] > 0).astype(int)]
    else:
      predicted = classes[scores.argmax(axis=1)]
    accuracy[:, k] = np.mean(predicted == y_test[:, k], axis=1)
  return accuracy


def _prefix(values: np.ndarray) -> np.ndarray:
  """Cumulative sums along axis -2 with a leading zero row."""
  shape = values.shape[:-2] + (1,) + values.shape[-1:]
  return np.concatenate([np.zeros(shape), np.cumsum(values, axis=-2)], -2)


class _Problems:
  """All (latent, class) SVMs of one factor, as prefix sums over sorted x.

  D latents, J problems per latent (one per class, or one for a binary
  factor), N points. Sums over a class's points within a range of sorted
  positions come from one array sorted by (latent, class, position), so
  memory stays O(D N) however many classes there are.
  """

  def __init__(self, sorted_x: np.ndarray, sorted_labels: np.ndarray,
               num_classes: int, c: float):
    num_latents, n = sorted_x.shape
    moments = np.stack([np.ones_like(sorted_x), sorted_x, sorted_x**2], -1)
    balanced = n / (num_classes * np.bincount(sorted_labels[0],
                                              minlength=num_classes))
    if num_classes == 2:
      positive_class = np.array([1])
      self.c_pos, self.c_neg = c * balanced[1:], c * balanced[:1]
    else:
      positive_class = np.arange(num_classes)
      self.c_pos, self.c_neg = c * balanced, np.full(num_classes, c)
    segment = np.arange(num_latents)[:, None] * num_classes
    keys = ((segment + sorted_labels) * (n + 1) + np.arange(n)).ravel()
    by_class = np.argsort(keys, kind="stable")
    self.keys = keys[by_class]
    self.class_sums = _prefix(moments.reshape(-1, 3)[by_class])
    self.base = (segment + positive_class) * (n + 1)  # (D, J)
    self.all_sums = _prefix(moments)  # (D, N + 1, 3)
    self.sorted_x = sorted_x

  def _sums(self, lo: np.ndarray, hi: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """(D, J, 3) sums of (1, x, x^2) over sorted positions [lo, hi), for
    the problem's positive class and for all points."""
    start = np.searchsorted(self.keys, self.base + lo)
    stop = np.searchsorted(self.keys, self.base + hi)
    latent = np.arange(lo.shape[0])[:, None]
    return (self.class_sums[stop] - self.class_sums[start],
            self.all_sums[latent, hi] - self.all_sums[latent, lo])

  def _active(self, threshold: np.ndarray, below: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of sorted points with x < threshold (below) or x > it."""
    n = self.sorted_x.shape[1]
    lo, hi = np.zeros(threshold.shape, int), np.full(threshold.shape, n)
    for d, xs in enumerate(self.sorted_x):
      left = np.searchsorted(xs, threshold[d], side="left")
      right = np.searchsorted(xs, threshold[d], side="right")
      hi[d] = np.where(below[d], left, n)
      lo[d] = np.where(below[d], 0, right)
    return lo, hi

  def _active_sums(self, w: np.ndarray, b: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Moment sums over active positives (w x + b < 1) and negatives."""
    flat = w == 0
    safe = np.where(flat, 1.0, w)
    # With w == 0 a margin is the same for every point: all or none active.
    pos_t = np.where(flat, np.where(b < 1, np.inf, -np.inf), (1 - b) / safe)
    neg_t = np.where(flat, np.where(b > -1, -np.inf, np.inf), (-1 - b) / safe)
    pos, _ = self._sums(*self._active(pos_t, w >= 0))
    pos_in_range, in_range = self._sums(*self._active(neg_t, w < 0))
    return pos, in_range - pos_in_range

  def objective(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """0.5 (w^2 + b^2) + sum_i C_i max(0, 1 - y_i (w x_i + b))^2."""
    pos, neg = self._active_sums(w, b)
    a, e = 1 - b, 1 + b
    pos_loss = a * a * pos[..., 0] - 2 * a * w * pos[..., 1] + (
        w * w * pos[..., 2])
    neg_loss = e * e * neg[..., 0] + 2 * e * w * neg[..., 1] + (
        w * w * neg[..., 2])
    return 0.5 * (w * w + b * b) + self.c_pos * pos_loss + (
        self.c_neg * neg_loss)

  def newton_direction(self, w: np.ndarray, b: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H^-1 g for (w, b), and g . H^-1 g, from the generalised Hessian."""
    pos, neg = self._active_sums(w, b)
    cp, cn = 2 * self.c_pos, 2 * self.c_neg
    g_w = w + cp * (w * pos[..., 2] - (1 - b) * pos[..., 1]) + cn * (
        (1 + b) * neg[..., 1] + w * neg[..., 2])
    g_b = b - cp * ((1 - b) * pos[..., 0] - w * pos[..., 1]) + cn * (
        (1 + b) * neg[..., 0] + w * neg[..., 1])
    h_ww = 1 + cp * pos[..., 2] + cn * neg[..., 2]
    h_wb = cp * pos[..., 1] + cn * neg[..., 1]
    h_bb = 1 + cp * pos[..., 0] + cn * neg[..., 0]
    det = h_ww * h_bb - h_wb * h_wb
    d_w = (h_bb * g_w - h_wb * g_b) / det
    d_b = (h_ww * g_b - h_wb * g_w) / det
    return d_w, d_b, g_w * d_w + g_b * d_b

  def solve(self) -> tuple[np.ndarray, np.ndarray]:
    """(w, b), each (D, J), minimising every problem's objective.

    A problem stops once its Newton decrement is at the objective's
    round-off, or no step along it lowers the objective any more.
    """
    w, b = np.zeros(self.base.shape), np.zeros(self.base.shape)
    stuck = np.zeros(self.base.shape, dtype=bool)
    for _ in range(_MAX_NEWTON_STEPS):
      d_w, d_b, decrease = self.newton_direction(w, b)
      start = self.objective(w, b)
      todo = (decrease > 1e-15 * (1 + start)) & ~stuck
      if not todo.any():
        break
      w, b, failed = self._line_search(w, b, d_w * todo, d_b * todo,
                                       decrease * todo, start)
      stuck |= failed
    return w, b

  def _line_search(self, w: np.ndarray, b: np.ndarray, d_w: np.ndarray,
                   d_b: np.ndarray, decrease: np.ndarray, start: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Armijo backtracking from the full Newton step, per problem.

    Returns the new (w, b) and where no step was accepted (left in place).
    """
    step = np.ones_like(w)
    for _ in range(_MAX_HALVINGS):
      new_w, new_b = w - step * d_w, b - step * d_b
      failed = self.objective(new_w, new_b) > start - 1e-4 * step * decrease
      if not failed.any():
        break
      step = np.where(failed, step / 2, step)
    return np.where(failed, w, new_w), np.where(failed, b, new_b), failed
