"""Every static figure and traversal animation of a model or a loaded run."""

from collections.abc import Sequence

import numpy as np

from betavae_jax import encode_decode
from betavae_jax import trained_run
from betavae_jax.datasets import ground_truth as ground_truth_lib
from betavae_jax.plotting import arrays
from betavae_jax.plotting import draw
from betavae_jax.plotting.arrays import DecodeFn
from betavae_jax.plotting.arrays import EncodeFn
from betavae_jax.plotting.arrays import Options


def _suffix(step: int | None) -> str:
  return "" if step is None else f", step {step}"


def _encode_fixed(encode: EncodeFn, images: np.ndarray, batch_size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Posterior means (P, N, D), KL per latent (P, D) and the KL order."""
  mean, logvar = encode_decode.encode_in_batches(encode, images, batch_size)
  kl = arrays.latent_kl(mean, logvar)
  return mean, kl, arrays.kl_order(kl)


def _traversal_pixels(decode: DecodeFn, mean: np.ndarray, order: np.ndarray,
                      likelihood: str, options: Options) -> np.ndarray:
  """(P, S, D, K, H, W, C) traversal images of the seed images."""
  seeds = mean[:, :options.num_traversal_images]
  outputs = arrays.traverse(decode, seeds, order,
                            arrays.traversal_values(options),
                            options.batch_size)
  return arrays.to_pixels(outputs, likelihood)


def _decoded(decode: DecodeFn, z: np.ndarray, likelihood: str,
             batch_size: int) -> np.ndarray:
  return arrays.to_pixels(arrays.decode_batched(decode, z, batch_size),
                          likelihood)


def figures(encode: EncodeFn, decode: DecodeFn, images: np.ndarray,
            names: Sequence[str], *, likelihood: str, pixel_max: int,
            ground_truth: ground_truth_lib.GroundTruthData | None = None,
            step: int | None = None,
            options: Options = Options()) -> dict[str, np.ndarray]:
  """Every static figure of a model or population, for PNG or TensorBoard.

  Args:
    encode: uint8 images (N, H, W, C) -> (mean, logvar), each (P, N, D).
    decode: latents (P, N, D) -> decoder outputs (P, N, H, W, C).
    images: fixed uint8 images; the KL per latent is averaged over all of
      them, traversals use the first few and reconstructions the first
      `options.num_reconstructions`.
    names: the P member names, shown above their panels.
    likelihood: 'bernoulli' (outputs are logits) or 'gaussian' (means).
    pixel_max: the value of a fully lit pixel in `images`.
    ground_truth: adds the latent-factor response figure when given.
    step: shown in the titles.
    options: what to show.

  Returns:
    HWC float images in [0, 1]: 'traversal_<i>' per seed image,
    'reconstructions', 'samples', 'kl_per_latent' and, with ground truth,
    'latent_factor_response'.
  """
  o, suffix, per_row = options, _suffix(step), options.panels_per_row
  mean, kl, order = _encode_fixed(encode, images, o.batch_size)
  pixels = _traversal_pixels(decode, mean, order, likelihood, o)
  values = arrays.traversal_values(o)
  out = {f"traversal_{s}": draw.draw_traversal(
      pixels[:, s], kl, order, values, names,
      f"Latent traversals of image {s}{suffix}", per_row)
         for s in range(pixels.shape[1])}
  n = o.num_reconstructions
  out["reconstructions"] = draw.draw_reconstructions(
      images[:n] / pixel_max,
      _decoded(decode, mean[:, :n], likelihood, o.batch_size), names,
      f"Reconstructions (posterior mean){suffix}", per_row)
  z = arrays.prior_latents(o.num_samples, mean.shape[-1], o.seed)
  z = np.broadcast_to(z, (len(names),) + z.shape)
  out["samples"] = draw.draw_samples(
      _decoded(decode, z, likelihood, o.batch_size), names,
      f"Samples from the prior{suffix}", per_row)
  out["kl_per_latent"] = draw.draw_kl(kl, names, f"KL per latent{suffix}",
                                      per_row)
  if ground_truth is not None:
    response = arrays.factor_response(encode, ground_truth,
                                      o.response_samples, o.seed, o.batch_size)
    out["latent_factor_response"] = draw.draw_response(
        *response, kl, names, f"Latent-factor response{suffix}", per_row)
  return out


def traversal_animations(encode: EncodeFn, decode: DecodeFn,
                         images: np.ndarray, names: Sequence[str], *,
                         likelihood: str, step: int | None = None,
                         options: Options = Options()
                         ) -> dict[str, list[np.ndarray]]:
  """GIF frames 'traversal_<i>' per seed image (arguments as `figures`)."""
  mean, kl, order = _encode_fixed(encode, images, options.batch_size)
  pixels = _traversal_pixels(decode, mean, order, likelihood, options)
  return {f"traversal_{s}": draw.draw_traversal_frames(
      pixels[:, s], kl, order, arrays.traversal_values(options), names,
      f"Image {s}{_suffix(step)}")
          for s in range(pixels.shape[1])}


def run_figures(run: trained_run.TrainedRun, num_images: int = 64,
                options: Options = Options(), animate: bool = True
                ) -> tuple[dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
  """The figures and (with `animate`) traversal GIF frames of a loaded run."""
  images = arrays.fixed_images(run.dataset, num_images, options.seed)
  kwargs = dict(likelihood=run.config.objective.likelihood, step=run.step,
                options=options)
  args = (run.encode_fn(), run.decode_fn(), images, run.population.names)
  pictures = figures(*args, pixel_max=run.pixel_max,
                     ground_truth=run.dataset.ground_truth, **kwargs)
  animations = traversal_animations(*args, **kwargs) if animate else {}
  return pictures, animations
