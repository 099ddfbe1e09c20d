"""The disentanglement suite, the latent statistics and the IWAE bound of a run.

`evaluate_run` scores a loaded run (or a shipped model): every population
member on the same images, UDR across members of a population, the IWAE
bound on held-out images, with every score and the settings of its
estimator. The train loop's eval hooks (`hooks.py`) call
`disentanglement_scalars` and `latent_scalars` for their cheap in-training
metrics; `python -m betavae_jax.evaluate` is the command line.
"""

from collections.abc import Callable, Sequence
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax import encode_decode
from betavae_jax import input_pipeline
from betavae_jax import iwae
from betavae_jax import kl_decomposition
from betavae_jax import losses
from betavae_jax import trained_run
from betavae_jax.datasets import ground_truth
from betavae_jax.evaluation import metrics as metrics_lib
from betavae_jax.evaluation import udr as udr_lib

Encode = Callable[[np.ndarray], tuple]


# The IWAE bound decodes K samples of every image: its defaults keep a CPU
# evaluation to minutes, and a call to IWAE_BATCH x IWAE_CHUNK decodes.
IWAE_IMAGES = 128
IWAE_BATCH = 16
IWAE_CHUNK = 50


def representation_fn(encode: Encode, representation: str,
                      seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
  """uint8 images -> (P, N, D) posterior means, or samples of q(z|x)."""
  if representation == "mean":
    return lambda images: encode_decode.encode_in_batches(encode, images)[0]
  if representation == "sample":
    rng = np.random.default_rng(seed)

    def sample(images):
      mean, logvar = encode_decode.encode_in_batches(encode, images)
      return mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape)
    return sample
  raise ValueError("representation must be 'mean' or 'sample'; got "
                   f"{representation!r}.")


def score_population(data: ground_truth.GroundTruthData, encode: Encode,
                     key: jax.Array, metrics: Sequence[str],
                     representation: str = "mean", scale: float = 1.0,
                     num_train: int = 10000,
                     num_test: int = 5000) -> list[dict]:
  """One {metric: result} dict per member, all on the same images."""
  return [draws[0] for draws in score_draws(
      data, encode, key, metrics, representation, scale, num_train,
      num_test, 1)]


def score_draws(data: ground_truth.GroundTruthData, encode: Encode,
                key: jax.Array, metrics: Sequence[str],
                representation: str = "mean", scale: float = 1.0,
                num_train: int = 10000, num_test: int = 5000,
                draws: int = 1) -> list[list[dict]]:
  """Per member, one {metric: result} dict per draw (the first at `key`;
  see `metrics_lib.compute_draws`), every member on the same images."""
  results = metrics_lib.compute_draws(
      data, representation_fn(encode, representation), key, draws,
      metrics=metrics, representation=representation, scale=scale,
      num_train=num_train, num_test=num_test)
  by_draw = [r if isinstance(r, list) else [r] for r in results]
  return [list(member) for member in zip(*by_draw)]


def flat_scores(member: dict) -> dict[str, float]:
  """{'mig.mig': 0.2, 'factor_vae.eval_accuracy': 0.7, ...}: numbers only."""
  out = {}
  for metric, result in member.items():
    for k, v in result.items():
      if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        out[f"{metric}.{k}"] = float(v)
  return out


def disentanglement_scalars(data: ground_truth.GroundTruthData,
                            encode: Encode, key: jax.Array,
                            metrics: Sequence[str]) -> list[dict]:
  """Per-member flat scores, for the training loop's eval steps."""
  return [flat_scores(m) for m in score_population(data, encode, key,
                                                   metrics)]


def split_images(dataset: input_pipeline.Dataset, num_images: int,
                 split: str = "eval") -> tuple[np.ndarray, str]:
  """Up to `num_images` images of a split, and the split they came from.

  The same fixed random subset the ELBO evaluation reads; without a
  held-out split, training images ('train').
  """
  if not len(dataset.eval_indices):
    split = "train"
  pool = len(dataset.eval_indices if split == "eval"
             else dataset.train_indices)
  n = min(num_images, pool)
  return next(input_pipeline.eval_batches(dataset, n, n, split=split)), split


def latent_scalars(encode: Encode, images: np.ndarray, key: jax.Array,
                   num_samples: int | None = None) -> list[dict]:
  """Per member: the KL's parts over `images`, and two active-unit counts.

  MI, TC and dim-KL come from the full-mixture estimator
  (`kl_decomposition.dataset_decomposition`: q(z) mixes over all the
  images; z drawn from `num_samples` of them, by default one per image),
  whose settings, the image and sample counts, are logged with them;
  `kl_mc` is the three parts' sum, the Monte-Carlo KL of the same draws.
  `active_units` is Burda et al.'s Cov_x(E_q[z|x]) > 0.01,
  `active_latents` the mean KL > 0.01 count the train step logs.
  """
  mean, logvar = encode_decode.encode_in_batches(encode, images)
  out = []
  for m, lv in zip(mean, logvar):
    parts = kl_decomposition.dataset_decomposition(key, m, lv, num_samples)
    kl_dims = np.mean(np.asarray(losses.kl_per_dimension(m, lv)), axis=0)
    out.append({"mi": parts["mi"], "tc": parts["tc"],
                "dim_kl": parts["dim_kl"], "kl_mc": parts["kl_mc"],
                "decomposition_images": parts["num_images"],
                "decomposition_samples": parts["num_samples"],
                "active_units": kl_decomposition.active_units(m),
                "active_latents": int(np.sum(
                    kl_dims > losses.ACTIVE_KL_NATS))})
  return out


def iwae_scores(run: trained_run.TrainedRun, key: jax.Array,
                num_samples: int = iwae.DEFAULT_NUM_SAMPLES,
                num_images: int = IWAE_IMAGES,
                split: str = "eval") -> list[dict]:
  """Per member: the IWAE bound on log p(x), averaged over a split's images.

  Held-out images by default; `split='train'` gives the training images'
  bound, whose difference from the held-out one measures generalisation.

  Images go IWAE_BATCH at a time and samples IWAE_CHUNK at a time, so
  memory stays that of one decoder call whatever K and the image count.
  """
  images, split = split_images(run.dataset, num_images, split)
  # (P, n, D) each.
  mean, logvar = encode_decode.encode_in_batches(run.encode_fn(), images)
  _, decode = run.jitted_population()
  obj = run.config.objective
  per_image = lambda o, x: losses.log_likelihood(obj.likelihood, o, x,
                                                 obj.gaussian_std)

  @jax.jit
  def likelihood(out, x):  # (P, C*b, ...) outputs, (b, ...) -> (C, P, b).
    out = out.reshape((out.shape[0], -1) + x.shape)
    ll = jax.vmap(jax.vmap(jax.vmap(per_image), in_axes=(0, None)),
                  in_axes=(0, None))(out, x)
    return jnp.swapaxes(ll, 0, 1)

  def log_px_z(z, context):  # z (C, P, b, D) -> (C, P, b).
    params, x = context
    c, p, b, d = z.shape
    return likelihood(decode(params, jnp.swapaxes(z, 0, 1).reshape(
        p, c * b, d)), x)
  bounds = []
  for start in range(0, len(images), IWAE_BATCH):
    rows = slice(start, start + IWAE_BATCH)
    x = encode_decode.to_float(jnp.asarray(images[rows]), run.pixel_max)
    bounds.append(np.asarray(iwae.iwae_bound(
        jax.random.fold_in(key, start), mean[:, rows], logvar[:, rows],
        log_px_z, (run.params, x), num_samples, IWAE_CHUNK)))
  bounds = np.concatenate(bounds, axis=1)
  return [{"log_likelihood": float(np.mean(b)),
           "std_error": float(np.std(b) / np.sqrt(len(b))),
           "num_samples": num_samples, "num_images": len(images),
           "split": split} for b in bounds]


@dataclasses.dataclass(frozen=True)
class Scoring:
  """How `evaluate_run` scores: which metrics, on how many points, how often.

  The defaults are the published sizes (Locatello et al. 2019) with one
  draw; `scale` shrinks the BetaVAE and FactorVAE metrics' points, `draws`
  repeats the suite at as many keys, and `iwae_images` > 0 adds the IWAE
  bound with K = `iwae_samples` on that many held-out images.
  """

  metrics: tuple[str, ...] = metrics_lib.METRICS
  representation: str = "mean"
  seed: int = 0
  scale: float = 1.0
  num_train: int = 10000
  num_test: int = 5000
  draws: int = 1
  iwae_samples: int = iwae.DEFAULT_NUM_SAMPLES
  iwae_images: int = IWAE_IMAGES


def evaluate_run(run: trained_run.TrainedRun,
                 scoring: Scoring = Scoring()) -> dict:
  """Scores every member of a loaded run (or shipped model); the report.

  With `scoring.draws` > 1 the suite (and UDR) is repeated at as many keys,
  and each member gets a 'spread' of every score (mean, std, min, max)
  beside the first draw's 'scores'. With `scoring.iwae_images` > 0 each
  member's scores get 'iwae': the IWAE bound on held-out images. The
  report is plain JSON; the caller writes it.

  Raises:
    ValueError: the run's data has no ground-truth factors.
  """
  data = run.dataset.ground_truth
  if data is None:
    raise ValueError(f"{run.dataset.name} has no ground-truth factors; the "
                     "disentanglement metrics need them.")
  key = jax.random.key(scoring.seed)
  encode = run.encode_fn()
  members = score_draws(data, encode, key, scoring.metrics,
                        scoring.representation, scoring.scale,
                        scoring.num_train, scoring.num_test, scoring.draws)
  pop = run.population
  report = {"workdir": run.workdir, "step": run.step, "seed": scoring.seed,
            "draws": scoring.draws,
            "members": [{"name": name, "beta": beta, "seed": s,
                         "capacity_max": c, "scores": scores[0]}
                        for name, beta, s, c, scores in zip(
                            pop.names, pop.betas, pop.seeds,
                            pop.capacity_maxes, members)]}
  if scoring.iwae_images > 0:
    for member, result in zip(report["members"], iwae_scores(
        run, key, scoring.iwae_samples, scoring.iwae_images)):
      member["scores"]["iwae"] = result
  if scoring.draws > 1:
    for member, scores in zip(report["members"], members):
      member["spread"] = metrics_lib.spread([flat_scores(d) for d in scores])
  if pop.size > 1:
    report["udr"] = _udr(data, encode, key, scoring.draws)
  return report_json(report)


def _udr(data: ground_truth.GroundTruthData, encode: Encode, key: jax.Array,
         draws: int) -> dict:
  """UDR per correlation; with several draws, each member's spread too."""
  batched = lambda images: encode_decode.encode_in_batches(encode, images)
  out = {}
  for correlation in udr_lib.CORRELATIONS:
    results = [udr_lib.udr_score(data, batched, k, correlation=correlation)
               for k in metrics_lib.draw_keys(key, draws)]
    out[correlation] = report_json(results[0])
    if draws > 1:
      values = np.array([r["udr"] for r in results], np.float64)
      out[correlation]["spread"] = metrics_lib.spread(
          [{str(i): v for i, v in enumerate(row)} for row in values])
  return out


def report_json(value):
  """numpy scalars and arrays to plain JSON types."""
  if isinstance(value, dict):
    return {k: report_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [report_json(v) for v in value]
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  return value


def format_table(report: dict) -> str:
  """Members as rows, headline scores as columns."""
  rows = [(m["name"] or "model", flat_scores(m["scores"]))
          for m in report["members"]]
  columns = sorted({k for _, s in rows for k in s})
  width = max(len(c) for c in columns + ["member"]) + 2
  lines = ["member".ljust(width) + "".join(
      (name or "model")[:14].rjust(16) for name, _ in rows)]
  for column in columns:
    lines.append(column.ljust(width) + "".join(
        f"{s.get(column, float('nan')):16.4f}" for _, s in rows))
  return "\n".join(lines)
