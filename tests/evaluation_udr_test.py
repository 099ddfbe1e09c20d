"""UDR on synthetic populations whose (dis)entanglement is known."""

import jax
import numpy as np
import pytest

from betavae_jax.datasets import ground_truth
from betavae_jax.evaluation import udr as udr_lib

N, K = 1000, 4


def _population(disentangled: bool, num_models: int, seed: int,
                dead: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """Codes (P, N, K + dead) of the same images and their mean KLs.

  A disentangled model permutes, flips and rescales the true factors; an
  entangled one rotates them. Either adds noise and `dead` latents with
  KL 0.001, which UDR must ignore.
  """
  rng, dead_rng = np.random.default_rng(seed), np.random.default_rng(seed)
  factors = np.random.default_rng(0).uniform(-1, 1, size=(N, K))
  codes = []
  for _ in range(num_models):
    if disentangled:
      mixing = np.eye(K)[rng.permutation(K)] * rng.choice(
          [-2.0, -1.0, 1.0, 3.0], size=K)
    else:
      mixing = np.linalg.qr(rng.normal(size=(K, K)))[0]
    active = factors @ mixing + 0.05 * rng.normal(size=(N, K))
    codes.append(np.concatenate([active, dead_rng.normal(size=(N, dead))],
                                1))
  kl = np.concatenate([np.ones((num_models, K)),
                       np.full((num_models, dead), 0.001)], axis=1)
  return np.stack(codes), kl


@pytest.mark.parametrize("correlation", udr_lib.CORRELATIONS)
def test_ranks_disentangled_population_above_entangled(correlation):
  good = udr_lib.udr(*_population(True, 5, seed=1), correlation=correlation)
  bad = udr_lib.udr(*_population(False, 5, seed=2), correlation=correlation)
  assert min(good["udr"]) > 0.8
  assert min(good["udr"]) > max(bad["udr"]) + 0.2
  assert good["num_informative"] == [K] * 5


def test_ranks_disentangled_members_first_in_a_mixed_population():
  good, good_kl = _population(True, 5, seed=3)
  bad, bad_kl = _population(False, 3, seed=4)
  result = udr_lib.udr(np.concatenate([good, bad]),
                       np.concatenate([good_kl, bad_kl]))
  assert min(result["udr"][:5]) > max(result["udr"][5:])


def test_latents_with_low_kl_are_ignored():
  codes, kl = _population(True, 3, seed=5, dead=0)
  more, more_kl = _population(True, 3, seed=5, dead=3)
  assert udr_lib.udr(more, more_kl)["udr"] == pytest.approx(
      udr_lib.udr(codes, kl)["udr"], abs=1e-6)


def test_relative_strength_of_hand_built_matrices():
  assert udr_lib.relative_strength(np.eye(3)) == pytest.approx(1.0)
  assert udr_lib.relative_strength(np.ones((4, 4))) == pytest.approx(0.25)
  assert udr_lib.relative_strength(np.zeros((0, 3))) == 0.0


def test_kl_per_image_is_averaged_and_shapes_checked():
  codes, kl = _population(True, 3, seed=6)
  per_image = np.broadcast_to(kl[:, None, :], codes.shape)
  assert udr_lib.udr(codes, per_image) == udr_lib.udr(codes, kl)
  with pytest.raises(ValueError, match="P >= 2"):
    udr_lib.udr(codes[:1], kl[:1])


class _Grid(ground_truth.GroundTruthData):
  """Four factors of ten classes; each image's pixels are its classes."""

  name = "grid"
  factor_names = ("a", "b", "c", "d")
  factor_sizes = (10, 10, 10, 10)
  image_shape = (1, 4, 1)
  pixel_max = 255

  def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
    return np.asarray(factors, np.uint8)[:, None, :, None]


def test_udr_score_encodes_sampled_images():
  def encode(images):
    x = images[:, 0, :, 0].astype(np.float64)
    mean = np.stack([x, x[:, ::-1], x @ np.linalg.qr(
        np.random.default_rng(0).normal(size=(4, 4)))[0]])
    return mean, np.full(mean.shape, -2.0)
  result = udr_lib.udr_score(_Grid(), encode, jax.random.key(0),
                             num_points=300, chunk_size=128)
  assert result["settings"]["num_points"] == 300
  # The two permuted copies agree up to the Lasso's shrinkage (alpha 0.1),
  # the rotation with neither.
  assert result["pairwise"][0][1] == pytest.approx(0.9, abs=0.01)
  assert result["pairwise"][0][2] < result["pairwise"][0][1] - 0.2
