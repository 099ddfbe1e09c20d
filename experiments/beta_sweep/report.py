"""The beta-sweep report: tables, trade-off plots and the theory's claims.

`write_report` reads what `run.py` left in each run's workdir (the JSONL
training log for the curves; eval/metrics_<step>.json for the scores and
the final ELBO on held-out and training images; timing.json; the
checkpoints for the traversal figures) and writes README.md and plots/ into
the output directory. Every claim is decided by a stated test on the measured
numbers, so the verdicts change with the data, never by hand.
"""

import collections
import json
import os

import matplotlib

matplotlib.use("Agg")
# pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from betavae_jax import config_json
from betavae_jax import input_pipeline
from betavae_jax import losses
from betavae_jax import metric_writer
from betavae_jax import models
from betavae_jax import trained_run
from betavae_jax.plotting import arrays
from betavae_jax.plotting import figures
from betavae_jax.plotting import files

# (key in the flat scores, column title); UDR comes from the population.
METRIC_COLUMNS = (("beta_vae.eval_accuracy", "BetaVAE"),
                  ("factor_vae.eval_accuracy", "FactorVAE"),
                  ("mig.mig", "MIG"), ("dci.disentanglement", "DCI"),
                  ("sap.sap", "SAP"), ("udr", "UDR"))
# The KL's parts, in the order the stacked figure piles them.
MECHANISM_TERMS = ("mi", "tc", "dim_kl")
MECHANISM_TITLES = {"mi": "index-code MI", "tc": "total correlation",
                    "dim_kl": "dimension-wise KL"}
BEST_BY = "mig.mig"  # Which score picks the "best beta" for the traversals.
DPI = 100
# A monotone trend counts when Spearman's rho over the betas is this strong.
TREND_RHO = 0.8


# Reading the runs.


def member_rows(workdir: str) -> list[dict]:
  """One flat dict per member: beta, seed, final ELBO terms and scores."""
  with open(_eval_path(workdir)) as f:
    report = json.load(f)
  udr = report.get("udr", {}).get("lasso", {}).get("udr")
  rows = []
  for i, member in enumerate(report["members"]):
    row = {"name": member["name"], "beta": member["beta"],
           "seed": member["seed"], "capacity_max": member["capacity_max"]}
    for split, prefix in (("eval", "eval"), ("train", "eval_train")):
      terms = report["elbo"][split][i]
      for term in ("recon", "kl", "elbo"):
        row[f"{prefix}.{term}"] = terms[term]
    row["active"] = int(np.sum(np.array(report["elbo"]["eval"][i][
        "kl_per_dim"]) > losses.ACTIVE_KL_NATS))
    for metric, result in member["scores"].items():
      for k, v in result.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
          row[f"{metric}.{k}"] = v
    if udr is not None:
      row["udr"] = udr[i]
    if "mechanism" in report:
      row.update(_mechanism_row(report["mechanism"]["members"][i]))
    rows.append(row)
  return rows


def _mechanism_row(member: dict) -> dict:
  """The KL's parts and the training images' IWAE bound, flat."""
  row = {k: member[k] for k in MECHANISM_TERMS + (
      "kl_mc", "active_units", "decomposition_images")}
  row["iwae.train"] = member["iwae_train"]["log_likelihood"]
  row["iwae.train_se"] = member["iwae_train"]["std_error"]
  return row


def _eval_path(workdir: str) -> str:
  names = [n for n in os.listdir(os.path.join(workdir, "eval"))
           if n.startswith("metrics_") and n.endswith(".json")]
  newest = max(names, key=lambda n: int(n[len("metrics_"):-len(".json")]))
  return os.path.join(workdir, "eval", newest)


def series(workdir: str, key: str, name: str = "") -> tuple[np.ndarray,
                                                            np.ndarray]:
  """(steps, values) of one logged scalar of one member."""
  full = f"{key}/{name}" if name else key
  points = [(r["step"], r[full]) for r in metric_writer.read_metrics(workdir)
            if full in r]
  return tuple(np.array(v) for v in zip(*points)) if points else (
      np.array([]), np.array([]))


def by_beta(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray,
                                                 np.ndarray]:
  """(betas, mean over seeds, half the range over seeds) of `key`."""
  groups = collections.defaultdict(list)
  for row in rows:
    groups[row["beta"]].append(row.get(key, np.nan))
  betas = np.array(sorted(groups))
  values = [np.array(groups[b], float) for b in betas]
  return (betas, np.array([np.mean(v) for v in values]),
          np.array([(np.max(v) - np.min(v)) / 2 for v in values]))


# Claims.


def _rho(x: np.ndarray, y: np.ndarray) -> float:
  ok = np.isfinite(y)
  return float(stats.spearmanr(x[ok], y[ok])[0]) if ok.sum() > 2 else np.nan


def _verdict(ok: bool | None) -> str:
  return {True: "**supported**", False: "**not supported**",
          None: "not tested"}[ok]


def claims(runs: dict[str, list[dict]], workdirs: dict[str, str]) -> list[str]:
  """One line per claim of the theory: its test, the figures, the verdict."""
  out = []
  sweep = runs["sweep"]
  betas, recon, _ = by_beta(sweep, "eval.recon")
  _, kl, _ = by_beta(sweep, "eval.kl")
  _, active, _ = by_beta(sweep, "active")
  rho_r, rho_k = _rho(betas, recon), _rho(betas, kl)
  out.append(
      f"- *Reconstructions get worse and KL falls as beta grows*: Spearman "
      f"rho(beta, held-out recon) = {rho_r:+.2f}, rho(beta, KL) = "
      f"{rho_k:+.2f} (test: rho >= {TREND_RHO} and <= -{TREND_RHO}): "
      + _verdict(rho_r >= TREND_RHO and rho_k <= -TREND_RHO))
  rho_a = _rho(betas, active)
  out.append(
      f"- *Fewer latents stay active as beta grows* (KL > "
      f"{losses.ACTIVE_KL_NATS} nats): active latents "
      + ", ".join(f"{a:.1f}" for a in active) + " for beta = "
      + ", ".join(f"{b:g}" for b in betas)
      + f"; rho = {rho_a:+.2f} (test: rho <= -{TREND_RHO}): "
      + _verdict(rho_a <= -TREND_RHO))
  for key, title in METRIC_COLUMNS:
    _, score, spread = by_beta(sweep, key)
    if not np.isfinite(score).any():
      continue
    i_best, i_one = int(np.nanargmax(score)), list(betas).index(1.0)
    best = betas[i_best]
    margin = spread[i_best] + spread[i_one]
    ok = bool(best > 1 and score[i_best] - score[i_one] > margin)
    shape = ("peaks inside the range" if best < betas[-1]
             else "highest at the largest beta")
    out.append(
        f"- *Disentanglement improves with beta up to a point* ({title}): "
        f"best at beta = {best:g} ({score[i_best]:.3f} against "
        f"{score[i_one]:.3f} at beta = 1), {shape} (test: best beta > 1, "
        f"ahead of beta = 1 by more than the two half-ranges over seeds, "
        f"{margin:.3f}): " + _verdict(ok))
  i_half, i_one = list(betas).index(0.5), list(betas).index(1.0)
  out.append(
      f"- *beta < 1 reconstructs better with a larger KL*: beta = 0.5 recon "
      f"{recon[i_half]:.1f} vs {recon[i_one]:.1f} nats, KL {kl[i_half]:.1f} "
      f"vs {kl[i_one]:.1f} (test: lower recon and higher KL than beta = 1): "
      + _verdict(bool(recon[i_half] < recon[i_one] and kl[i_half] > kl[i_one])))
  _, gap, _ = by_beta(
      [dict(r, gap=r["eval.elbo"] - r["eval_train.elbo"]) for r in sweep],
      "gap")
  rho_g = _rho(betas, gap)
  _, elbo, _ = by_beta(sweep, "eval.elbo")
  relative = np.max(np.abs(gap) / np.abs(elbo))
  out.append(
      "- *Stronger regularisation generalises better*: held-out minus "
      "training ELBO (nats; 0 = no gap) "
      + ", ".join(f"{g:+.2f}" for g in gap) + " for beta = "
      + ", ".join(f"{b:g}" for b in betas) + f"; rho(beta, gap) = "
      f"{rho_g:+.2f}; the largest gap is {relative:.1%} of the ELBO (test: "
      f"the gap shrinks toward 0 as beta grows, rho >= {TREND_RHO}): "
      + _verdict(rho_g >= TREND_RHO)
      + (" (a gap this small means the models do not overfit yet, so there "
         "is little for beta to close)" if relative < 0.02 else ""))
  if "mi" in sweep[0]:
    out.extend(mechanism_claims(runs))
  if "anneal" in runs:
    out.append(_anneal_claim(runs, workdirs))
  if "capacity" in workdirs:
    out.append(_capacity_claim(workdirs["capacity"]))
  grid = _grid_best(runs)
  if grid:
    text = "; ".join(f"{m}: beta = {b:g}" for m, b in grid.items())
    bigger = [("conv_z10", "conv_z32"), ("mlp_z10", "mlp_z32"),
              ("conv_z10", "mlp_z10"), ("conv_z32", "mlp_z32")]
    pairs = [(a, b) for a, b in bigger if a in grid and b in grid]
    ok = all(grid[b] >= grid[a] for a, b in pairs) if pairs else None
    out.append(
        f"- *Higher-capacity models need a larger beta for the same "
        f"disentanglement*: the beta with the best {BEST_BY} per model is "
        f"{text} (parameters: {_param_counts(runs, workdirs)}; test: the "
        f"larger model of each pair, 32 vs 10 latents and MLP vs conv, never "
        f"needs a smaller beta): " + _verdict(ok))
  return out


def mechanism_claims(runs: dict[str, list[dict]]) -> list[str]:
  """The claims about why beta works: the KL's parts and the IWAE gap."""
  out, sweep = [], runs["sweep"]
  betas = by_beta(sweep, "mi")[0]
  for term, claim in (
      ("tc", "*Total correlation falls as beta grows* (the seed's \"more "
       "independent latents\")"),
      ("mi", "*The index-code MI falls as beta grows* (the price paid in "
       "reconstruction)")):
    _, values, _ = by_beta(sweep, term)
    rho = _rho(betas, values)
    out.append(
        f"- {claim}: {MECHANISM_TITLES[term]} "
        + ", ".join(f"{v:.2f}" for v in values) + " nats for beta = "
        + ", ".join(f"{b:g}" for b in betas)
        + f"; rho = {rho:+.2f} (test: rho <= -{TREND_RHO}): "
        + _verdict(bool(rho <= -TREND_RHO)))
  gaps = [dict(r, gap=r["iwae.log_likelihood"] - r["iwae.train"],
               gap_se=np.hypot(r["iwae.std_error"], r["iwae.train_se"]))
          for r in sweep]
  _, gap, _ = by_beta(gaps, "gap")
  _, gap_se, _ = by_beta(gaps, "gap_se")
  rho = _rho(betas, gap)
  resolved = np.abs(gap) > 2 * gap_se
  out.append(
      "- *Stronger regularisation generalises better*, by the IWAE bound "
      "(held-out minus training log-likelihood, nats; 0 = no gap): "
      + ", ".join(f"{g:+.2f} ± {e:.2f}" for g, e in zip(gap, gap_se))
      + " for beta = " + ", ".join(f"{b:g}" for b in betas)
      + f" (± one standard error over images); rho(beta, gap) = {rho:+.2f}; "
      f"{int(resolved.sum())} of {len(gap)} gaps exceed two standard errors "
      f"(test: the gap shrinks toward 0 as beta grows, rho >= {TREND_RHO}, "
      "and the gaps are resolved, larger than two standard errors at "
      "beta = 1): " + _verdict(bool(
          rho >= TREND_RHO and resolved[list(betas).index(1.0)])))
  if "tcvae" in runs and "mi" in runs["tcvae"][0]:
    out.append(_tcvae_claim(runs))
  return out


def _tcvae_claim(runs: dict[str, list[dict]]) -> str:
  """beta-TCVAE against the beta-VAE at the same beta (seed of the grid)."""
  tcvae = {r["beta"]: r for r in runs["tcvae"]}
  seed = min(r["seed"] for r in runs["tcvae"])
  vae = {r["beta"]: r for r in runs["sweep"] if r["seed"] == seed}
  shared = [b for b in sorted(tcvae) if b > 1 and b in vae]
  cells = [f"beta = {b:g}: TC {tcvae[b]['tc']:.2f} vs {vae[b]['tc']:.2f}, "
           f"MI {tcvae[b]['mi']:.2f} vs {vae[b]['mi']:.2f}" for b in shared]
  ok = (bool(all(tcvae[b]["tc"] < vae[b]["tc"] and
                 tcvae[b]["mi"] > vae[b]["mi"] for b in shared))
        if shared else None)
  return (
      "- *beta-TCVAE lowers the total correlation without paying in MI* "
      "(beta-TCVAE vs beta-VAE, seed "
      f"{seed}, nats): " + "; ".join(cells) + " (test: at every beta > 1 "
      "a lower TC and a higher MI than the beta-VAE): " + _verdict(ok))


def _param_counts(runs: dict, workdirs: dict[str, str]) -> str:
  """Parameters per member of each grid model, from its saved config."""
  counts = {}
  for name in ("sweep", "conv_z32", "mlp_z10", "mlp_z32"):
    if name in runs:
      config = config_json.read(os.path.join(workdirs[name],
                                             config_json.CONFIG_FILE))
      config.data.in_memory = False  # Only the shape is needed.
      shape = input_pipeline.load_dataset(config.data).image_shape
      counts["conv_z10" if name == "sweep" else name] = models.num_params(
          config.model, shape)
  return ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in counts.items())


def _anneal_claim(runs: dict[str, list[dict]],
                  workdirs: dict[str, str]) -> str:
  """Annealed beta = 4 against constant beta = 4, early and at the end."""
  constant = [r for r in runs["sweep"] if r["beta"] == 4.0]
  annealed = runs["anneal"]
  early = {}
  for label, rows, wd in (("constant", constant, workdirs["sweep"]),
                          ("annealed", annealed, workdirs["anneal"])):
    values = []
    for row in rows:
      steps, recon = series(wd, "train/recon", row["name"])
      values.append(recon[: max(len(recon) // 3, 1)])
    first = np.array([v.mean() for v in values])
    jitter = np.array([np.std(np.diff(v)) if len(v) > 2 else np.nan
                       for v in values])
    early[label] = (first.mean(), np.nanmean(jitter))
  final = {label: np.mean([r["eval.recon"] for r in rows])
           for label, rows in (("constant", constant), ("annealed", annealed))}
  active = {label: np.mean([r["active"] for r in rows])
            for label, rows in (("constant", constant), ("annealed", annealed))}
  ok = bool(early["annealed"][0] < early["constant"][0]
            and early["annealed"][1] <= early["constant"][1])
  return (
      f"- *Annealing beta from ~0 stabilises early training* (beta = 4, "
      f"linear ramp over the first third): mean train recon over the first "
      f"third {early['annealed'][0]:.1f} annealed vs "
      f"{early['constant'][0]:.1f} constant; step-to-step jitter of the "
      f"logged recon {early['annealed'][1]:.2f} vs "
      f"{early['constant'][1]:.2f}; at the end held-out recon "
      f"{final['annealed']:.1f} vs {final['constant']:.1f}, active latents "
      f"{active['annealed']:.1f} vs {active['constant']:.1f} (test: lower "
      f"early recon and no more jitter): " + _verdict(ok))


def capacity_onsets(workdir: str, threshold: float = 0.5) -> dict[int, int]:
  """{latent: first logged step its train KL exceeds `threshold` nats}."""
  records = metric_writer.read_metrics(workdir)
  onsets = {}
  for r in records:
    for k, v in r.items():
      if k.startswith("train/kl_per_dim_") and v > threshold:
        d = int(k.split("_")[-1].split("/")[0])
        onsets.setdefault(d, r["step"])
  return dict(sorted(onsets.items(), key=lambda kv: kv[1]))


def _capacity_claim(workdir: str) -> str:
  onsets = capacity_onsets(workdir)
  steps = np.array(list(onsets.values()))
  distinct = len(set(steps.tolist()))
  ok = bool(len(steps) >= 2 and distinct >= 0.75 * len(steps))
  return (
      "- *The capacity objective switches latents on one at a time as C "
      "grows*: first step each latent's KL exceeds 0.5 nats: "
      + ", ".join(f"z{d} at {s}" for d, s in onsets.items())
      + f" ({distinct} distinct onsets for {len(steps)} latents; test: at "
      "least 3 in 4 latents switch on at a step of their own): "
      + _verdict(ok))


def _grid_models(runs: dict[str, list[dict]]) -> dict[str, list[dict]]:
  """The model grid: the sweep's first seed at the grid's betas as the
  conv / 10-latent cell, and the grid's own runs."""
  betas = {r["beta"] for name in ("conv_z32", "mlp_z10", "mlp_z32")
           for r in runs.get(name, ())}
  seed = min(r["seed"] for r in runs["sweep"])
  grid = {"conv_z10": [r for r in runs["sweep"]
                       if r["seed"] == seed and r["beta"] in betas]}
  grid.update({n: runs[n] for n in ("conv_z32", "mlp_z10", "mlp_z32")
               if n in runs})
  return grid


def _grid_best(runs: dict[str, list[dict]]) -> dict[str, float]:
  """The beta with the best BEST_BY score for each model of the grid."""
  best = {}
  for name, rows in _grid_models(runs).items():
    betas, score, _ = by_beta(rows, BEST_BY)
    if np.isfinite(score).any():
      best[name] = float(betas[int(np.nanargmax(score))])
  return best if len(best) > 1 else {}


# Plots.


def _save(fig, out: str, name: str) -> str:
  path = os.path.join(out, "plots", f"{name}.png")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=DPI, bbox_inches="tight")
  plt.close(fig)
  return f"plots/{name}.png"


def plot_tradeoffs(rows: list[dict], out: str) -> str:
  """Recon, KL, active latents and every metric against beta."""
  panels = [("eval.recon", "held-out recon (nats)"),
            ("eval.kl", "held-out KL (nats)"), ("active", "active latents")]
  panels += [(k, t) for k, t in METRIC_COLUMNS
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
  return _save(fig, out, "tradeoffs")


def plot_recon_vs_disentanglement(rows: list[dict], out: str) -> str:
  keys = [(k, t) for k, t in METRIC_COLUMNS[:3]
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
  return _save(fig, out, "recon_vs_disentanglement")


def plot_generalisation(rows: list[dict], out: str) -> str:
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
  return _save(fig, out, "generalisation")


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
    for term in MECHANISM_TERMS:
      values = by_beta(runs[name], term)[1]
      ax.bar(x, values, bottom=bottom, label=MECHANISM_TITLES[term])
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
  return _save(fig, out, "kl_decomposition")


def plot_anneal(runs: dict[str, list[dict]], workdirs: dict[str, str],
                out: str) -> str:
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for label, rows, wd, style in (
      ("constant beta = 4", [r for r in runs["sweep"] if r["beta"] == 4.0],
       workdirs["sweep"], "-"),
      ("annealed to beta = 4", runs["anneal"], workdirs["anneal"], "--")):
    for row in rows:
      for ax, key in zip(axes, ("train/recon", "train/kl")):
        steps, values = series(wd, key, row["name"])
        ax.plot(steps, values, style,
                label=f"{label}, seed {row['seed']}")
  for ax, title in zip(axes, ("train recon (nats)", "train KL (nats)")):
    ax.set_xlabel("step")
    ax.set_ylabel(title)
    ax.set_title(f"{title}: annealed vs constant beta")
  axes[0].set_yscale("log")
  axes[1].legend(fontsize=8)
  fig.tight_layout()
  return _save(fig, out, "anneal_vs_constant")


def plot_capacity(workdir: str, out: str) -> str:
  records = metric_writer.read_metrics(workdir)
  dims = sorted({int(k.split("_")[-1].split("/")[0]) for r in records
                 for k in r if k.startswith("train/kl_per_dim_")})
  fig, ax = plt.subplots(figsize=(6.5, 4.2))
  for d in dims:
    steps, values = series(workdir, f"train/kl_per_dim_{d}")
    ax.plot(steps, values, label=f"z{d}")
  steps, capacity = series(workdir, "train/capacity")
  ax.plot(steps, capacity, "k--", label="C")
  ax.set_xlabel("step")
  ax.set_ylabel("KL per latent (nats)")
  ax.set_title("Capacity objective: KL of each latent as C grows")
  ax.legend(ncol=2, fontsize=8)
  return _save(fig, out, "capacity_kl_per_latent")


def plot_grid(runs: dict[str, list[dict]], out: str) -> str:
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for name, rows in _grid_models(runs).items():
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
  return _save(fig, out, "model_grid")


def plot_traversals(workdir: str, rows: list[dict], out: str) -> str:
  """Traversals of beta = 1 and the best beta (seed 0), side by side."""
  betas, score, _ = by_beta(rows, BEST_BY)
  best = float(betas[int(np.nanargmax(score))])
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


# The report.


def _fmt(mean: float, spread: float, digits: int) -> str:
  if not np.isfinite(mean):
    return "not run"
  return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def beta_table(rows: list[dict]) -> str:
  columns = [("eval.recon", "recon", 1), ("eval.kl", "KL", 2),
             ("active", "active", 1)] + [(k, t, 3) for k, t in METRIC_COLUMNS]
  lines = ["| beta | " + " | ".join(t for _, t, _ in columns) + " |",
           "|---" * (len(columns) + 1) + "|"]
  betas = by_beta(rows, "eval.recon")[0]
  table = {k: by_beta(rows, k) for k, _, _ in columns}
  for i, beta in enumerate(betas):
    lines.append(f"| {beta:g} | " + " | ".join(
        _fmt(table[k][1][i], table[k][2][i], d) for k, _, d in columns) + " |")
  return "\n".join(lines)


def mechanism_table(runs: dict[str, list[dict]], study) -> str:
  """Per beta of each objective: the KL's parts and the IWAE bounds.

  The capacity objective has no beta (gamma |KL - C| replaces beta KL), so
  its rows show '-' rather than the config's unused default.
  """
  columns = [("eval.kl", "held-out KL", 2), ("mi", "MI", 2), ("tc", "TC", 2),
             ("dim_kl", "dim-KL", 2), ("kl_mc", "MI + TC + dim-KL", 2),
             ("active", "active (KL)", 1),
             ("active_units", "active (Burda)", 1),
             ("iwae.log_likelihood", "IWAE held-out", 1),
             ("iwae.train", "IWAE train", 1)]
  lines = ["| run | beta | " + " | ".join(t for _, t, _ in columns) + " |",
           "|---" * (len(columns) + 2) + "|"]
  for name, rows in runs.items():
    if "mi" not in rows[0]:
      continue
    table = {k: by_beta(rows, k) for k, _, _ in columns}
    uses_beta = study.runs[name].objective.name != "capacity"
    for i, beta in enumerate(table["mi"][0]):
      shown = f"{beta:g}" if uses_beta else "-"
      lines.append(f"| {name} | {shown} | " + " | ".join(
          _fmt(table[k][1][i], table[k][2][i], d) for k, _, d in columns)
                   + " |")
  return "\n".join(lines)


def _mechanism_section(study, runs: dict[str, list[dict]]) -> str:
  """The KL decomposition's table, with its estimators' settings."""
  if "mi" not in runs["sweep"][0]:
    return ""
  m = study.mechanism
  images = int(runs["sweep"][0]["decomposition_images"])
  return f"""## Why beta works: the KL's parts

E_x KL(q(z|x) || p(z)) = MI (index-code mutual information) + TC (total
correlation of q(z)) + dim-KL (sum of KL(q(z_j) || p(z_j))). Each part is
estimated with q(z) the exact mixture of the posteriors of {images:,}
random training images, z drawn from {m.decomposition_samples:,} of them
(so MI is at most log {images:,} = {np.log(images):.1f} nats); their sum is
the Monte-Carlo KL of the same draws, beside the held-out KL of the first
table. The IWAE bound on log p(x) uses K = {m.iwae_samples:,} samples on
{m.iwae_images:,} held-out and as many training images. Active (Burda) counts
latents with Cov_x(E_q[z|x]) > 0.01. Mean ± half the range over seeds.

{mechanism_table(runs, study)}
"""


def _best_beta(rows: list[dict]) -> float:
  betas, score, _ = by_beta(rows, BEST_BY)
  return float(betas[int(np.nanargmax(score))])


def _published_comparison(rows: list[dict]) -> str:
  lines = []
  for key, title, low, high in (
      ("beta_vae.eval_accuracy", "BetaVAE", None, None),
      ("factor_vae.eval_accuracy", "FactorVAE", 0.5, 0.85),
      ("mig.mig", "MIG", 0.05, 0.35)):
    betas, mean, spread = by_beta(rows, key)
    cells = []
    for beta in dict.fromkeys((1.0, _best_beta(rows))):
      i = list(betas).index(beta)
      within = ("" if low is None else " (inside the published range)"
                if low <= mean[i] <= high else " (outside the published range)")
      cells.append(f"{_fmt(mean[i], spread[i], 3)} at beta = {beta:g}{within}")
    lines.append(f"- {title}: " + "; ".join(cells))
  return "\n".join(lines)


def run_table(runs: dict[str, list[dict]], study, workdirs) -> str:
  lines = ["| run | model | members | steps | train wall time | scoring |",
           "|---|---|---|---|---|---|"]
  for name, rows in runs.items():
    config = study.runs[name]
    timing = _timing(workdirs[name])
    lines.append(
        f"| {name} | {config.model.name}, {config.model.latent_dim} latents,"
        f" {config.objective.name} | {len(rows)} | "
        f"{config.train.num_train_steps:,} | "
        f"{timing.get('train_seconds', np.nan) / 60:.1f} min | "
        f"{timing.get('eval_seconds', np.nan) / 60:.1f} min |")
  return "\n".join(lines)


def _timing(workdir: str) -> dict:
  """run.py's timing.json of a run."""
  with open(os.path.join(workdir, "timing.json")) as f:
    return json.load(f)


def write_report(study, workdir: str, out: str, hardware: str,
                 names: list[str]) -> str:
  """Writes <out>/README.md and <out>/plots/; returns the README path."""
  workdirs = {n: os.path.join(workdir, n) for n in names}
  runs = {n: member_rows(wd) for n, wd in workdirs.items()}
  sweep = runs["sweep"]
  plots = {"tradeoffs": plot_tradeoffs(sweep, out),
           "recon_vs": plot_recon_vs_disentanglement(sweep, out),
           "generalisation": plot_generalisation(sweep, out),
           "traversals": plot_traversals(workdirs["sweep"], sweep, out)}
  if "anneal" in runs:
    plots["anneal"] = plot_anneal(runs, workdirs, out)
  if "capacity" in runs:
    plots["capacity"] = plot_capacity(workdirs["capacity"], out)
  if any(n in runs for n in ("conv_z32", "mlp_z10", "mlp_z32")):
    plots["grid"] = plot_grid(runs, out)
  if "mi" in sweep[0]:
    plots["mechanism"] = plot_mechanism(runs, out)
  config = study.runs["sweep"]
  total = sum(_timing(wd).get(k, 0) for wd in workdirs.values()
              for k in ("train_seconds", "eval_seconds"))
  scale, points = study.metric_scale, tuple(study.metric_points)
  figures = "\n\n".join(f"![{k}]({v})" for k, v in plots.items())
  command = ("python experiments/beta_sweep/run.py "
             f"--config=configs/beta_sweep.py:{study.preset}")
  data_note = ("the offline renderer unless config.data.path names the "
               "official file" if config.data.name == "dsprites"
               else "synthetic test data")
  mig_points = (f"{points[0]:,} / {points[1]:,} points "
                "(published 10,000 / 5,000)")
  recon_note = (
      "nats per image of the final parameters on "
      f"{config.train.eval_num_examples:,} random held-out images (and as "
      "many training images for the generalisation test); active = KL > "
      f"{losses.ACTIVE_KL_NATS} nats")
  text = f"""# The beta sweep: what the measurements say

Produced by one command,
`{command}`
(the `paper` preset runs the published settings on a GPU or TPU). Hardware:
{hardware}. Total wall time {total / 60:.0f} min. Data:
{config.data.name} ({data_note}),
{config.data.eval_fraction:.0%} of the factor combinations held out and never
trained on. Adam, learning rate {config.optim.learning_rate:g}, batch
{config.train.batch_size}, {config.train.num_train_steps:,} steps per run
(the papers train 300k steps at 1e-4: these are early-training figures).

| | |
|---|---|
| BetaVAE, FactorVAE | {scale:.0%} of the published 10,000 / 5,000 points |
| MIG, DCI, SAP | {mig_points} |
| recon, KL, ELBO | {recon_note} |
| UDR | Lasso variant over the {len(sweep)} members of the sweep |

Each row: mean ± half the range over seeds {sorted({r['seed'] for r in sweep})}.

{beta_table(sweep)}

## The theory's claims, tested

{chr(10).join(claims(runs, workdirs))}

{_mechanism_section(study, runs)}
## Against the published ranges

The beta-VAE paper reports a near-perfect BetaVAE score for beta-VAE against
a much lower one for a plain VAE (later reproductions found that hard to
match); Locatello et al. 2019 report FactorVAE scores of roughly 0.5-0.85 and
MIG of roughly 0.05-0.35 on dSprites across seeds, after 300k steps. Here, at
beta = 1 and the best beta by {BEST_BY} (beta = {_best_beta(sweep):g}):
{_published_comparison(sweep)}

## Runs

{run_table(runs, study, workdirs)}

## Figures

{figures}
"""
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, "README.md")
  with open(path, "w") as f:
    f.write(text)
  return path
