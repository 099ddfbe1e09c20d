"""Array-level disentanglement scores on synthetic codes with known answers."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk_metrics
from sklearn import svm

from betavae_jax.evaluation import scores

SIZES = np.array([4, 5, 6])
CODE_KEYS = {"mig": ("mig",),
             "dci": ("disentanglement", "completeness",
                     "informativeness_test"),
             "sap": ("sap",),
             "modularity": ("modularity", "explicitness_test")}


def _factors(n: int, rng: np.random.Generator) -> np.ndarray:
  return np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)


def _disentangled(factors: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
  """Latent k is a noisy monotone (convex) function of factor k alone."""
  return (factors / (SIZES - 1))**1.5 + 0.01 * rng.normal(
      size=factors.shape)


@pytest.fixture(scope="module")
def data():
  """Train and test factors with disentangled, rotated and noise codes."""
  rng = np.random.default_rng(0)
  y, yt = _factors(2000, rng), _factors(1000, rng)
  z, zt = _disentangled(y, rng), _disentangled(yt, rng)
  rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
  return {"factors": (y, yt), "disentangled": (z, zt),
          "rotated": (z @ rotation, zt @ rotation),
          "noise": (rng.normal(size=z.shape), rng.normal(size=zt.shape))}


@pytest.fixture(scope="module")
def results(data):
  """score_codes of each code, computed once for the module."""
  y, yt = data["factors"]
  return {name: scores.score_codes(data[name][0], y, data[name][1], yt)
          for name in ("disentangled", "rotated", "noise")}


def _flat(result: dict) -> dict:
  return {f"{m}.{k}": result[m][k] for m, keys in CODE_KEYS.items()
          if m in result for k in keys}


def _assert_same_scores(got: dict, expected: dict) -> None:
  """Equal up to round-off; LightGBM's trees, up to 1e-4 (its float sums
  depend a little on the latents' order)."""
  for name, value in got.items():
    tolerance = 1e-4 if name.startswith("dci") else 1e-9
    assert value == pytest.approx(expected[name], rel=tolerance), name


def test_discretize_matches_numpy_histogram_digitize():
  rng = np.random.default_rng(1)
  for dtype in (np.float32, np.float64):
    codes = rng.normal(size=(500, 4)).astype(dtype)
    codes[:, 2] = 0.7  # A constant latent takes np.histogram's +-0.5 range.
    expected = np.stack([
        np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in codes.T], 1)
    np.testing.assert_array_equal(scores.discretize(codes), expected)


def test_mutual_information_and_entropy_match_sklearn():
  rng = np.random.default_rng(2)
  bins = scores.discretize(rng.normal(size=(800, 3)))
  factors = _factors(800, rng)
  expected = [[sk_metrics.mutual_info_score(f, b) for f in factors.T]
              for b in bins.T]
  np.testing.assert_allclose(scores.mutual_information(bins, factors),
                             expected, atol=1e-12)
  np.testing.assert_allclose(
      scores.entropy(factors),
      [sk_metrics.mutual_info_score(f, f) for f in factors.T], atol=1e-12)


def test_mig_of_a_hand_built_example():
  # Latent 0 copies factor A. Latent 1 puts three points in its first bin
  # and one in its last, so it shares I = 1.5 ln 2 - 0.75 ln 3 nats with
  # each factor. The gaps over H = ln 2 are 1 - I / ln 2 = 0.75 log2(3) -
  # 0.5 for A and I / ln 2 = 1.5 - 0.75 log2(3) for B; their mean is 1/2.
  factors = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
  codes = np.array([[0.0, 0.0], [0.0, 0.01], [1.0, 0.02], [1.0, 1.0]])
  result = scores.mig(codes, factors)
  third = 0.75 * math.log2(3)
  np.testing.assert_allclose(result["mig_per_factor"],
                             [third - 0.5, 1.5 - third], rtol=1e-12)
  assert result["mig"] == pytest.approx(0.5, rel=1e-12)
  assert result["settings"]["num_bins"] == 20
  assert "equal-width bins" in result["settings"]["estimator"]


@pytest.mark.slow
def test_disentangled_code_scores_near_the_top(data, results):
  got = _flat(results["disentangled"])
  for name in ("mig.mig", "dci.disentanglement", "dci.completeness",
               "dci.informativeness_test", "modularity.modularity",
               "modularity.explicitness_test"):
    assert got[name] > 0.95, name
  # A one-latent linear SVM cannot separate a factor's middle classes and
  # its C = 0.01 penalty acts on raw values, so SAP's ceiling for codes in
  # [0, 1] is what the factor classes themselves, scaled to [0, 1], score.
  y, yt = data["factors"]
  ceiling = scores.sap(y / (SIZES - 1), y, yt / (SIZES - 1), yt)["sap"]
  assert got["sap.sap"] > 0.9 * ceiling


def test_rotation_scores_clearly_lower(results):
  good, rotated = (_flat(results["disentangled"]),
                   _flat(results["rotated"]))
  for name in ("mig.mig", "dci.disentanglement", "modularity.modularity",
               "sap.sap"):
    assert rotated[name] < 0.7 * good[name], name
  # A rotation loses no information.
  assert rotated["dci.informativeness_test"] > 0.95


def test_noise_scores_near_zero_or_chance(results):
  got = _flat(results["noise"])
  for name in ("mig.mig", "dci.disentanglement", "dci.completeness",
               "sap.sap"):
    assert got[name] < 0.05, name
  chance = np.mean(1 / SIZES)
  assert abs(got["dci.informativeness_test"] - chance) < 0.05
  assert abs(got["modularity.explicitness_test"] - 0.5) < 0.05


def test_permuting_latents_changes_nothing(data, results):
  y, yt = data["factors"]
  z, zt = data["disentangled"]
  order = [2, 0, 1]
  permuted = scores.score_codes(z[:, order], y, zt[:, order], yt)
  _assert_same_scores(_flat(permuted), _flat(results["disentangled"]))


def test_scaling_a_latent_changes_nothing_where_defined(data, results):
  # Powers of two scale exactly, so only the definition can differ.
  # SAP's SVM is regularised on raw values, so SAP is not scale-free.
  y, yt = data["factors"]
  z, zt = data["disentangled"]
  scale = np.array([4.0, 0.5, 1.0])
  scaled = scores.score_codes(z * scale, y, zt * scale, yt,
                              metrics=("mig", "dci", "modularity"))
  _assert_same_scores(_flat(scaled), _flat(results["disentangled"]))


def test_sap_svm_matches_sklearn_linear_svc():
  rng = np.random.default_rng(3)
  factors = np.stack([rng.integers(0, 2, 600), rng.integers(0, 5, 600)], 1)
  codes = np.concatenate([_noisy_unit_scale(factors, rng),
                          rng.normal(size=(600, 1))], axis=1)
  train, test = slice(0, 400), slice(400, None)
  expected = np.zeros((3, 2))
  for d in range(3):
    for k in range(2):
      model = svm.LinearSVC(C=0.01, class_weight="balanced", tol=1e-8,
                            max_iter=100000)
      model.fit(codes[train, d:d + 1], factors[train, k])
      expected[d, k] = np.mean(
          model.predict(codes[test, d:d + 1]) == factors[test, k])
  result = scores.sap(codes[train], factors[train], codes[test],
                      factors[test])
  np.testing.assert_array_equal(result["score_matrix"], expected)


def _noisy_unit_scale(factors: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
  return factors / factors.max(axis=0) + 0.3 * rng.normal(
      size=factors.shape)


@pytest.mark.slow
def test_dci_lightgbm_backend_reproduces_sklearn(data):
  # Below 256 training points every value has its own LightGBM bin, so the
  # fast backend grows sklearn's trees, up to ties and float32 gradients.
  y, yt = data["factors"]
  z, zt = data["rotated"]
  n = 250
  fast = scores.dci(z[:n], y[:n], zt, yt, gbt="lightgbm")
  exact = scores.dci(z[:n], y[:n], zt, yt, gbt="sklearn")
  np.testing.assert_allclose(fast["importance_matrix"],
                             exact["importance_matrix"], atol=0.02)
  for name in ("disentanglement", "completeness"):
    assert fast[name] == pytest.approx(exact[name], abs=0.005), name
  assert fast["informativeness_test"] == pytest.approx(
      exact["informativeness_test"], abs=0.02)
  assert "GradientBoostingClassifier()" in exact["settings"]["estimator"]
  # A two-class factor takes the single-tree (log-odds) path.
  binary = np.stack([y[:n, 0] % 2, y[:n, 1]], axis=1)
  binary_test = np.stack([yt[:, 0] % 2, yt[:, 1]], axis=1)
  fast = scores.dci(z[:n], binary, zt, binary_test, gbt="lightgbm")
  exact = scores.dci(z[:n], binary, zt, binary_test, gbt="sklearn")
  np.testing.assert_allclose(fast["importance_matrix"],
                             exact["importance_matrix"], atol=0.02)


def test_population_codes_score_each_member(data, results):
  y, yt = data["factors"]
  stacked = [np.stack([data[n][i] for n in ("disentangled", "noise")])
             for i in (0, 1)]
  members = scores.score_codes(stacked[0], y, stacked[1], yt,
                               metrics=("mig", "sap"))
  assert len(members) == 2
  for member, name in zip(members, ("disentangled", "noise")):
    assert member["mig"]["mig"] == results[name]["mig"]["mig"]
    assert member["sap"]["sap"] == results[name]["sap"]["sap"]


def test_rejects_constant_factors_and_unknown_metrics():
  codes = np.random.default_rng(4).normal(size=(10, 2))
  factors = np.stack([np.arange(10) % 2, np.zeros(10, int)], axis=1)
  with pytest.raises(ValueError, match="constant"):
    scores.mig(codes, factors)
  with pytest.raises(ValueError, match="unknown metrics"):
    scores.score_codes(codes, factors, codes, factors, metrics=("irs",))


def test_factor_correlation_maps_latents_to_factors():
  rng = np.random.default_rng(0)
  factors = rng.integers(0, 8, size=(2000, 2))
  codes = np.stack([np.exp(factors[:, 1] / 3.0) + 0.01 * rng.normal(
      size=2000), rng.normal(size=2000), np.zeros(2000)], axis=1)
  rho = scores.factor_correlation(codes, factors)
  assert rho.shape == (3, 2)
  assert rho[0, 1] > 0.99 and rho[0, 0] < 0.1 and rho[1].max() < 0.1
  assert np.all(rho[2] == 0)  # A collapsed latent carries nothing.
  np.testing.assert_allclose(
      rho[1, 0], abs(stats.spearmanr(codes[:, 1], factors[:, 0])[0]))
