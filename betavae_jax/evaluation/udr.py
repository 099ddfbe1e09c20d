"""Unsupervised Disentanglement Ranking (Duan et al. 2020).

UDR picks hyperparameters without labels: models that disentangle agree
with each other up to a permutation and sign of their informative latents,
while entangled ones agree only up to arbitrary rotations. For every
ordered pair of models (i, j) a similarity matrix R between their latents
is estimated, |Lasso coefficients| (alpha 0.1) regressing j's standardised
codes on i's, or |Spearman correlations|, restricted to latents whose mean
KL to the prior exceeds 0.01. Its relative-strength score averages, over
latents on each side, max(R)^2 / sum(R) along that latent's row or column
(the two side means then averaged, as in disentanglement_lib). A model's
UDR is the median of its scores against the other models.

`udr` works on arrays: the codes of P models for the same N images and
their mean KL per latent. `udr_score` samples the images and encodes them.
"""

from collections.abc import Callable

import jax
import numpy as np
from scipy import stats
from sklearn import linear_model
import threadpoolctl

from betavae_jax.datasets import ground_truth
from betavae_jax.evaluation import sampling

CORRELATIONS = ("lasso", "spearman")


def _standardise(codes: np.ndarray, informative: np.ndarray) -> np.ndarray:
  """Zero-mean unit-variance codes, uninformative latents zeroed."""
  std = codes.std(axis=1, keepdims=True)
  scaled = (codes - codes.mean(axis=1, keepdims=True)) / np.where(
      std > 0, std, 1.0)
  return scaled * informative[:, None, :]


def _lasso_similarity(codes: np.ndarray, alpha: float,
                      seed: int) -> np.ndarray:
  """(P, P, D, D) |coefficients| of Lasso(j's codes ~ i's codes).

  One BLAS thread: the fits are small, and spare threads only spin.
  """
  num_models, _, num_latents = codes.shape
  similarity = np.zeros((num_models, num_models, num_latents, num_latents))
  with threadpoolctl.threadpool_limits(1):
    for i in range(num_models):
      for j in range(num_models):
        if i != j:
          model = linear_model.Lasso(alpha=alpha, random_state=seed)
          similarity[i, j] = np.abs(model.fit(codes[i], codes[j]).coef_).T
  return similarity


def _spearman_similarity(codes: np.ndarray) -> np.ndarray:
  """(P, P, D, D) |Spearman correlation| of every pair of latents."""
  ranks = stats.rankdata(codes, axis=1)
  ranks -= ranks.mean(axis=1, keepdims=True)
  norm = np.sqrt(np.sum(ranks**2, axis=1, keepdims=True))
  # A constant latent has no defined correlation (NaN, as in scipy).
  with np.errstate(divide="ignore", invalid="ignore"):
    ranks = ranks / norm
  return np.abs(np.einsum("pnd,qne->pqde", ranks, ranks))


def relative_strength(similarity: np.ndarray) -> float:
  """Mean over both sides' latents of max(R)^2 / sum(R); 0 if empty.

  A latent whose similarities are all zero (or undefined) scores 0.
  """
  if similarity.size == 0:
    return 0.0
  with np.errstate(divide="ignore", invalid="ignore"):
    columns = np.max(similarity, axis=0)**2 / np.sum(similarity, axis=0)
    rows = np.max(similarity, axis=1)**2 / np.sum(similarity, axis=1)
  return float((np.mean(np.nan_to_num(columns))
                + np.mean(np.nan_to_num(rows))) / 2)


def udr(representations_by_model: np.ndarray, kl_by_model: np.ndarray,
        correlation: str = "lasso", kl_threshold: float = 0.01,
        lasso_alpha: float = 0.1, seed: int = 0) -> dict:
  """UDR score of each of P >= 2 models.

  Args:
    representations_by_model: (P, N, D) codes (posterior means) of P models
      on the same N images, or a list of P (N, D) arrays.
    kl_by_model: (P, D) mean KL to the prior per latent, or (P, N, D) per
      image (averaged here).
    correlation: 'lasso' or 'spearman'.
    kl_threshold: latents with mean KL at or below it are ignored.
    lasso_alpha: Lasso penalty.
    seed: Lasso's random_state.

  Returns:
    'udr' (P scores), 'pairwise' (P x P; [i][j] compares i's latents with
    j's, diagonal 0), 'num_informative' (P), 'settings'.
  """
  codes, _ = sampling.as_population(representations_by_model)
  kl = np.asarray(kl_by_model, dtype=np.float64)
  kl = kl.mean(axis=1) if kl.ndim == 3 else kl
  if correlation not in CORRELATIONS:
    raise ValueError(f"correlation must be one of {CORRELATIONS}.")
  if len(codes) < 2 or kl.shape != (codes.shape[0], codes.shape[2]):
    raise ValueError("UDR needs P >= 2 models with (P, D) KLs; got codes "
                     f"{codes.shape} and KL {kl.shape}.")
  informative = kl > kl_threshold
  codes = _standardise(codes.astype(np.float64), informative)
  similarity = (_lasso_similarity(codes, lasso_alpha, seed)
                if correlation == "lasso" else _spearman_similarity(codes))
  num_models = len(codes)
  pairwise = np.zeros((num_models, num_models))
  for i in range(num_models):
    for j in range(num_models):
      if i != j:
        pairwise[i, j] = relative_strength(
            similarity[i, j][informative[i]][:, informative[j]])
  others = ~np.eye(num_models, dtype=bool)
  scores = [float(np.median(pairwise[others[:, i], i]))
            for i in range(num_models)]
  return {"udr": scores, "pairwise": pairwise.tolist(),
          "num_informative": informative.sum(axis=1).tolist(),
          "settings": {"definition": "Duan et al. 2020",
                       "estimator": _describe(correlation, lasso_alpha),
                       "kl_threshold": kl_threshold,
                       "num_points": codes.shape[1]}}


def _describe(correlation: str, alpha: float) -> str:
  """How the similarity matrix was estimated."""
  source = (f"|sklearn Lasso(alpha={alpha}) coefficients|"
            if correlation == "lasso" else "|Spearman correlation|")
  return (f"{source} between standardised latents with mean KL above the "
          "threshold; relative strength; median over the other models")


def _kl_per_latent(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
  """KL(N(mean, exp(logvar)) || N(0, 1)) per image and latent."""
  return 0.5 * (np.exp(logvar) + np.square(mean) - 1.0 - logvar)


def udr_score(data: ground_truth.GroundTruthData,
              encode_fn: Callable[[np.ndarray], tuple], key: jax.Array,
              num_points: int = 1000,
              chunk_size: int = sampling.DEFAULT_CHUNK_SIZE,
              **udr_kwargs) -> dict:
  """UDR of a population on `num_points` images drawn from `data`.

  Args:
    data: the dataset; its factors are not used, only its images.
    encode_fn: uint8 images -> (mean, logvar), each (P, N, D).
    key: JAX PRNG key.
    num_points: images shared by all models (1000 in disentanglement_lib's
      UDR config).
    chunk_size: images per call of `encode_fn`.
    **udr_kwargs: passed to `udr`.

  Returns:
    `udr`'s result.
  """
  factors = data.sample_factors(num_points,
                                sampling.rng_from_key(key, "udr"))
  means, kls = [], []
  for start in range(0, num_points, chunk_size):
    mean, logvar = encode_fn(
        data.images_from_factors(factors[start:start + chunk_size]))
    mean, logvar = np.asarray(mean), np.asarray(logvar)
    means.append(mean)
    kls.append(_kl_per_latent(mean, logvar))
  return udr(np.concatenate(means, axis=1), np.concatenate(kls, axis=1),
             **udr_kwargs)
