"""The beta sweep's figures: trade-offs against beta, curves, traversals.

Each `plot_*` draws one figure from the rows of `analysis.member_rows` (or a
run's training log) into <out>/plots/ and returns the report's link to it.
"""

import os

import matplotlib

matplotlib.use("Agg")
# pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt
import numpy as np

from betavae_jax import metric_writer
from betavae_jax import trained_run
from betavae_jax.plotting import arrays
from betavae_jax.plotting import figures
from betavae_jax.plotting import files
from experiments import results
from experiments.beta_sweep import analysis
from experiments.beta_sweep.analysis import by_beta


def plot_tradeoffs(rows: list[dict], out: str) -> str:
  """Recon, KL, active latents and every metric against beta."""
  panels = [("eval.recon", "held-out recon (nats)"),
            ("eval.kl", "held-out KL (nats)"), ("active", "active latents")]
  panels += [(k, t) for k, t in analysis.METRIC_COLUMNS
             if np.isfinite(by_beta(rows, k)[1]).any()]
  cols = 3
  fig, axes = plt.subplots(-(-len(panels) // cols), cols,
                           figsize=(4.2 * cols, 3.4 * -(-len(panels) // cols)),
                           squeeze=False)
  for ax, (key, title) in zip(axes.flat, panels):
    betas, mean, spread = by_beta(rows, key)
    ax.errorbar(betas, mean, yerr=spread, marker="o", capsize=3)
    for row in rows:
      ax.plot(row["beta"], row.get(key, np.nan), ".", color="gray", alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("beta")
    ax.set_ylabel(title)
    ax.set_title(f"{title} vs beta")
  for ax in axes.flat[len(panels):]:
    ax.axis("off")
  fig.suptitle("beta sweep: mean over seeds (bars: half the range; dots: "
               "seeds)")
  fig.tight_layout()
  return results.save_figure(fig, out, "tradeoffs")


def plot_recon_vs_disentanglement(rows: list[dict], out: str) -> str:
  """Each member's first three scores against its held-out recon."""
  keys = [(k, t) for k, t in analysis.METRIC_COLUMNS[:3]
          if np.isfinite(by_beta(rows, k)[1]).any()]
  fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.8),
                           squeeze=False)
  for ax, (key, title) in zip(axes.flat, keys):
    points = ax.scatter([r["eval.recon"] for r in rows],
                        [r.get(key, np.nan) for r in rows],
                        c=np.log2([r["beta"] for r in rows]), cmap="viridis")
    ax.set_xlabel("held-out recon (nats)")
    ax.set_ylabel(title)
    ax.set_title(f"{title} vs reconstruction")
  fig.colorbar(points, ax=axes.ravel().tolist(), label="log2 beta")
  return results.save_figure(fig, out, "recon_vs_disentanglement")


def plot_generalisation(rows: list[dict], out: str) -> str:
  """The ELBO on training and held-out combinations against beta."""
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for key, label in (("eval_train.elbo", "training combinations"),
                     ("eval.elbo", "held-out combinations")):
    betas, mean, spread = by_beta(rows, key)
    ax.errorbar(betas, mean, yerr=spread, marker="o", capsize=3, label=label)
  ax.set_xscale("log", base=2)
  ax.set_xlabel("beta")
  ax.set_ylabel("ELBO (nats per image)")
  ax.set_title("ELBO on seen and unseen factor combinations")
  ax.legend()
  return results.save_figure(fig, out, "generalisation")


def plot_mechanism(runs: dict[str, list[dict]], out: str) -> str:
  """The KL's parts stacked against beta, and the IWAE bound per split."""
  objectives = [(n, t) for n, t in (("sweep", "beta-VAE"),
                                    ("tcvae", "beta-TCVAE"))
                if n in runs and "mi" in runs[n][0]]
  fig, axes = plt.subplots(1, len(objectives) + 1,
                           figsize=(4.6 * (len(objectives) + 1), 3.8),
                           squeeze=False)
  for ax, (name, title) in zip(axes.flat, objectives):
    betas = by_beta(runs[name], "mi")[0]
    x, bottom = np.arange(len(betas)), np.zeros(len(betas))
    for term in analysis.MECHANISM_TERMS:
      values = by_beta(runs[name], term)[1]
      ax.bar(x, values, bottom=bottom, label=analysis.MECHANISM_TITLES[term])
      bottom += values
    ax.plot(x, by_beta(runs[name], "eval.kl")[1], "k_", markersize=18,
            label="held-out KL")
    ax.set_xticks(x, [f"{b:g}" for b in betas])
    ax.set_xlabel("beta")
    ax.set_ylabel("nats")
    ax.set_title(f"{title}: the KL's parts (training images)")
    ax.legend(fontsize=8)
  ax = axes.flat[-1]
  for key, se, label in (("iwae.train", "iwae.train_se", "training images"),
                         ("iwae.log_likelihood", "iwae.std_error",
                          "held-out images")):
    betas, mean, _ = by_beta(runs["sweep"], key)
    ax.errorbar(betas, mean, yerr=by_beta(runs["sweep"], se)[1], marker="o",
                capsize=3, label=label)
  ax.set_xscale("log", base=2)
  ax.set_xlabel("beta")
  ax.set_ylabel("IWAE log p(x) (nats)")
  ax.set_title("beta-VAE: IWAE bound (bars: standard error)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  return results.save_figure(fig, out, "kl_decomposition")


def plot_anneal(runs: dict[str, list[dict]], workdirs: dict[str, str],
                out: str) -> str:
  """Train recon and KL against steps, annealed against constant beta."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for label, rows, wd, style in (
      ("constant beta = 4", [r for r in runs["sweep"] if r["beta"] == 4.0],
       workdirs["sweep"], "-"),
      ("annealed to beta = 4", runs["anneal"], workdirs["anneal"], "--")):
    for row in rows:
      for ax, metric in zip(axes, ("recon", "kl")):
        steps, values = analysis.series(wd, "train", metric, row["name"])
        ax.plot(steps, values, style,
                label=f"{label}, seed {row['seed']}")
  for ax, title in zip(axes, ("train recon (nats)", "train KL (nats)")):
    ax.set_xlabel("step")
    ax.set_ylabel(title)
    ax.set_title(f"{title}: annealed vs constant beta")
  axes[0].set_yscale("log")
  axes[1].legend(fontsize=8)
  fig.tight_layout()
  return results.save_figure(fig, out, "anneal_vs_constant")


def plot_capacity(workdir: str, out: str) -> str:
  """Each latent's train KL against steps as the capacity C grows."""
  records = metric_writer.read_metrics(workdir)
  fig, ax = plt.subplots(figsize=(6.5, 4.2))
  steps, kl = results.series(records, "train", "kl_per_dim")
  for d in range(kl.shape[1] if kl.size else 0):
    ax.plot(steps, kl[:, d], label=f"z{d}")
  steps, capacity = results.series(records, "train", "capacity")
  ax.plot(steps, capacity, "k--", label="C")
  ax.set_xlabel("step")
  ax.set_ylabel("KL per latent (nats)")
  ax.set_title("Capacity objective: KL of each latent as C grows")
  ax.legend(ncol=2, fontsize=8)
  return results.save_figure(fig, out, "capacity_kl_per_latent")


def plot_grid(runs: dict[str, list[dict]], out: str) -> str:
  """MIG and FactorVAE against beta for each model of the grid."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for name, rows in analysis.grid_models(runs).items():
    for ax, (key, title) in zip(axes, (("mig.mig", "MIG"),
                                       ("factor_vae.eval_accuracy",
                                        "FactorVAE"))):
      betas, mean, _ = by_beta(rows, key)
      ax.plot(betas, mean, marker="o", label=name)
      ax.set_xscale("log", base=2)
      ax.set_xlabel("beta")
      ax.set_ylabel(title)
      ax.set_title(f"{title} vs beta per model")
  axes[0].legend()
  fig.tight_layout()
  return results.save_figure(fig, out, "model_grid")


def plot_traversals(workdir: str, rows: list[dict], out: str) -> str:
  """Traversals of beta = 1 and the best beta (seed 0), side by side."""
  best = analysis.best_beta(rows)
  seed = min(r["seed"] for r in rows)
  chosen = [next(i for i, r in enumerate(rows) if r["beta"] == b
                 and r["seed"] == seed) for b in dict.fromkeys((1.0, best))]
  run = trained_run.load(workdir, in_memory=False)  # 8 images to draw.
  encode, decode = _members(run.encode_fn(), run.decode_fn(), chosen,
                            len(rows))
  images = arrays.fixed_images(run.dataset, 8)
  options = arrays.Options(num_traversal_images=1, panels_per_row=2,
                           response_samples=4)
  pictures = figures.figures(
      encode, decode, images, [rows[i]["name"] for i in chosen],
      likelihood=run.config.objective.likelihood, pixel_max=run.pixel_max,
      step=run.step, options=options)
  path = os.path.join(out, "plots", "traversals_beta1_vs_best.png")
  files.save(os.path.dirname(path),
             {"traversals_beta1_vs_best": pictures["traversal_0"],
              "reconstructions_beta1_vs_best": pictures["reconstructions"]})
  return "plots/traversals_beta1_vs_best.png"


def _members(encode, decode, chosen: list[int], size: int):
  """A population's encode / decode restricted to the `chosen` members."""
  def encode_chosen(images):
    return tuple(np.asarray(a)[chosen] for a in encode(images))

  def decode_chosen(z):
    full = np.zeros((size,) + z.shape[1:], np.float32)
    full[chosen] = z
    return np.asarray(decode(full))[chosen]
  return encode_chosen, decode_chosen
