"""Sampling entry points on a toy dataset whose images are its factors."""

import jax
import numpy as np
import pytest

from betavae_jax.datasets import ground_truth
from betavae_jax.evaluation import metrics
from betavae_jax.evaluation import sampling

SMALL = {"num_train": 600, "num_eval": 300}


class FactorImages(ground_truth.GroundTruthData):
  """One-row images whose pixels are the factor classes."""

  name = "factor_images"
  factor_names = ("constant", "a", "b", "c")
  factor_sizes = (1, 3, 4, 5)
  image_shape = (1, 4, 1)
  pixel_max = 255

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    return np.asarray(factors, dtype=np.uint8)[:, None, :, None]


def disentangled(images: np.ndarray) -> np.ndarray:
  """Latent k is a monotone function of factor k plus a small per-image
  jitter."""
  f = images[:, 0, 1:, 0].astype(np.float64)
  jitter = np.sin(f @ np.array([7.1, 3.3, 1.7]))[:, None]
  return np.exp(f / 4) + jitter * np.array([0.01, 0.02, 0.015])


def rotated(images: np.ndarray) -> np.ndarray:
  rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
  return disentangled(images) @ rotation


def with_collapsed_latent(images: np.ndarray) -> np.ndarray:
  """`disentangled` plus a latent collapsed to the prior's mean."""
  return np.concatenate([disentangled(images), np.zeros((len(images), 1))],
                        axis=1)


def population(images: np.ndarray) -> np.ndarray:
  return np.stack([disentangled(images), rotated(images)])


def _without_settings(result: dict) -> dict:
  return {k: v for k, v in result.items() if k != "settings"}


def test_compute_all_at_published_defaults():
  result = metrics.compute_all(FactorImages(), disentangled,
                               jax.random.key(0))
  assert set(result) == set(metrics.METRICS)
  assert result["beta_vae"]["eval_accuracy"] > 0.99
  assert result["factor_vae"]["eval_accuracy"] > 0.99
  assert result["mig"]["mig"] > 0.9
  assert result["dci"]["disentanglement"] > 0.9
  assert result["dci"]["informativeness_test"] > 0.99
  assert result["sap"]["sap"] > 0.1
  assert result["modularity"]["modularity"] > 0.9
  assert result["modularity"]["explicitness_test"] > 0.95
  settings = result["beta_vae"]["settings"]
  assert (settings["batch_size"], settings["num_train"],
          settings["num_eval"]) == (64, 10000, 5000)
  assert result["factor_vae"]["settings"]["prune_threshold"] == 0.05
  assert result["mig"]["settings"]["num_points"] == 10000
  for r in result.values():
    assert r["settings"]["representation"] == "mean"
    assert r["settings"]["factors"] == ["a", "b", "c"]
  # Each metric has its own random stream: alone, it scores the same.
  alone = metrics.compute_all(FactorImages(), disentangled, jax.random.key(0),
                              metrics=("mig",))
  assert alone["mig"] == result["mig"]


def test_scale_shrinks_the_sampling_metrics_and_says_so():
  result = metrics.compute_all(FactorImages(), disentangled,
                               jax.random.key(0), scale=0.1,
                               metrics=("beta_vae", "factor_vae", "mig"))
  for name in ("beta_vae", "factor_vae"):
    settings = result[name]["settings"]
    assert (settings["num_train"], settings["num_eval"]) == (1000, 500)
    assert result[name]["eval_accuracy"] > 0.99
  assert result["mig"]["settings"]["num_points"] == 10000  # Not scaled.
  with pytest.raises(ValueError, match="scale=0 must lie in"):
    metrics.compute_all(FactorImages(), disentangled, jax.random.key(0),
                        scale=0)


def test_mean_codes_are_cached_by_grid_index():
  """Each of the 60 grid images is encoded once, and scores do not change."""
  counted = []

  def counting(images):
    counted.append(len(images))
    return disentangled(images)

  chosen = ("beta_vae", "factor_vae", "mig")
  cached = metrics.compute_all(FactorImages(), counting, jax.random.key(0),
                               metrics=chosen, scale=0.1)
  assert sum(counted) <= 60 + 1  # The grid, plus the probe for its size.
  counted.clear()
  uncached = metrics.compute_all(FactorImages(), counting, jax.random.key(0),
                                 metrics=chosen, scale=0.1,
                                 representation="sample")
  assert sum(counted) > 100_000
  for name in chosen:
    assert _without_settings(cached[name]) == _without_settings(
        uncached[name])
  # A grid whose codes exceed the limit is encoded draw by draw instead.
  data = FactorImages()
  factors = data.sample_factors(100, np.random.default_rng(0))
  over = sampling.CodeCache(data, disentangled, limit_bytes=0)
  for _ in range(2):
    np.testing.assert_array_equal(
        over.codes_of(factors, 32)[0],
        sampling.encode_factors(data, disentangled, factors)[0])


def test_noise_scores_near_chance():
  rng = np.random.default_rng(0)
  noise = lambda images: rng.normal(size=(len(images), 3))
  data, key = FactorImages(), jax.random.key(1)
  beta = metrics.beta_vae_score(data, noise, key, **SMALL)
  factor = metrics.factor_vae_score(data, noise, key, **SMALL)
  assert abs(beta["eval_accuracy"] - 1 / 3) < 0.1
  assert abs(factor["eval_accuracy"] - 1 / 3) < 0.1


def test_population_scores_each_member_on_the_same_images():
  data, key = FactorImages(), jax.random.key(2)
  for score in (metrics.beta_vae_score, metrics.factor_vae_score):
    members = score(data, population, key, **SMALL)
    singles = [score(data, fn, key, **SMALL)
               for fn in (disentangled, rotated)]
    assert members == singles
  members = metrics.compute_all(data, population, key,
                                metrics=("mig", "modularity"),
                                num_train=1000, num_test=500)
  for member, fn in zip(members, (disentangled, rotated)):
    assert member == metrics.compute_all(data, fn, key,
                                         metrics=("mig", "modularity"),
                                         num_train=1000, num_test=500)
  assert members[0]["mig"]["mig"] > members[1]["mig"]["mig"]


def test_list_of_codes_is_a_population():
  listed = lambda images: list(population(images))
  result = metrics.compute_all(FactorImages(), listed, jax.random.key(3),
                               metrics=("mig",), num_train=500)
  assert len(result) == 2


def test_results_depend_on_the_key_not_the_chunk_size():
  data, key = FactorImages(), jax.random.key(4)
  # A pseudo-random function of the whole image: scores are not saturated.
  mixing = np.random.default_rng(0).normal(size=(4, 3)) * 100
  noise = lambda images: np.sin(images[:, 0, :, 0] @ mixing)
  whole = metrics.beta_vae_score(data, noise, key, **SMALL)
  chunked = metrics.beta_vae_score(data, noise, key, chunk_size=200,
                                   **SMALL)
  assert whole == chunked
  other = metrics.beta_vae_score(data, noise, jax.random.key(5), **SMALL)
  assert other != whole


def test_latent_order_and_scale():
  # FactorVAE divides by global variances, so it ignores a latent's scale;
  # BetaVAE's regularised logistic regression does not, so only its
  # invariance to the latents' order is checked.
  data, key = FactorImages(), jax.random.key(6)
  permute = lambda x: rotated(x)[:, [2, 0, 1]]
  scale = lambda x: rotated(x) * np.array([4.0, 0.5, 8.0])
  base = metrics.factor_vae_score(data, rotated, key, **SMALL)
  for fn in (permute, scale):
    assert _without_settings(metrics.factor_vae_score(
        data, fn, key, **SMALL)) == _without_settings(base)
  beta = metrics.beta_vae_score(data, rotated, key, **SMALL)
  permuted = metrics.beta_vae_score(data, permute, key, **SMALL)
  for name in ("train_accuracy", "eval_accuracy"):
    assert permuted[name] == pytest.approx(beta[name], abs=1e-3)


def test_factor_vae_prunes_a_collapsed_latent():
  result = metrics.factor_vae_score(FactorImages(), with_collapsed_latent,
                                    jax.random.key(8), **SMALL)
  assert result["num_active_dims"] == 3
  assert result["eval_accuracy"] > 0.99


def test_rng_from_key_takes_typed_and_raw_keys():
  typed = sampling.rng_from_key(jax.random.key(7), "codes")
  raw = sampling.rng_from_key(jax.random.PRNGKey(7), "codes")
  assert typed.integers(1 << 30) == raw.integers(1 << 30)


def test_rejects_unknown_metric():
  with pytest.raises(ValueError, match="unknown metrics"):
    metrics.compute_all(FactorImages(), disentangled, jax.random.key(0),
                        metrics=("mig", "irs"))


def test_draws_share_one_encoding_and_give_a_spread():
  """Three draws encode the grid once; the first draw is compute_all's."""
  counted = []

  def counting(images):
    counted.append(len(images))
    return rotated(images)

  chosen = dict(metrics=("mig", "factor_vae"), scale=0.05, num_train=300)
  draws = metrics.compute_draws(FactorImages(), counting, jax.random.key(3),
                                3, **chosen)
  assert len(draws) == 3 and sum(counted) <= 60 + 1
  single = metrics.compute_all(FactorImages(), rotated, jax.random.key(3),
                               **chosen)
  assert draws[0]["mig"] == single["mig"]
  flat = [{"mig": d["mig"]["mig"]} for d in draws]
  assert len({f["mig"] for f in flat}) == 3  # Each draw samples anew.
  summary = metrics.spread(flat)["mig"]
  assert summary["min"] <= summary["mean"] <= summary["max"]
  assert summary["std"] == pytest.approx(np.std(summary["values"], ddof=1))
  assert metrics.spread([{"mig": 0.5}])["mig"]["std"] == 0.0
  with pytest.raises(ValueError, match="num_draws=0"):
    metrics.compute_draws(FactorImages(), rotated, jax.random.key(3), 0)
