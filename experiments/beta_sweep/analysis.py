"""The beta sweep's analysis: its runs read into rows, and the claims tested.

`member_rows` reads what `run.py` left in a run's workdir (the scores file
eval/metrics_<step>.json with the final ELBO on held-out and training
images; the JSONL training log for the curves). `claims` decides each claim
of the theory by a stated test on those numbers, so the verdicts change with
the data, never by hand.
"""

import collections
import os

import numpy as np
from scipy import stats

from betavae_jax import config_json
from betavae_jax import input_pipeline
from betavae_jax import losses
from betavae_jax import metric_writer
from betavae_jax import models
from experiments import results

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
# A monotone trend counts when Spearman's rho over the betas is this strong.
TREND_RHO = 0.8
GRID_RUNS = ("conv_z32", "mlp_z10", "mlp_z32")
TIMING_FILE = "timing.json"  # run.py's wall times of a run, in its workdir.


# Reading the runs.


def member_rows(workdir: str) -> list[dict]:
  """One flat dict per member: beta, seed, final ELBO terms and scores."""
  folder = os.path.join(workdir, "eval")
  report = results.read_json(results.scores_path(
      folder, results.scored_steps(folder)[-1]))
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
    scores = dict(member["scores"], iwae=report["iwae"][i])
    for metric, result in scores.items():
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


def read_timing(workdir: str) -> dict:
  """A run's wall times: 'train_seconds' and 'eval_seconds' where known."""
  return results.read_json(os.path.join(workdir, TIMING_FILE)) or {}


def series(workdir: str, prefix: str, metric: str, member: str = ""
           ) -> tuple[np.ndarray, np.ndarray]:
  """(steps, values) of one logged scalar ('train', 'recon') of a member."""
  return results.series(metric_writer.read_metrics(workdir), prefix, metric,
                        member)


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
      + results.verdict(rho_r >= TREND_RHO and rho_k <= -TREND_RHO))
  rho_a = _rho(betas, active)
  out.append(
      f"- *Fewer latents stay active as beta grows* (KL > "
      f"{losses.ACTIVE_KL_NATS} nats): active latents "
      + ", ".join(f"{a:.1f}" for a in active) + " for beta = "
      + ", ".join(f"{b:g}" for b in betas)
      + f"; rho = {rho_a:+.2f} (test: rho <= -{TREND_RHO}): "
      + results.verdict(rho_a <= -TREND_RHO))
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
        f"{margin:.3f}): " + results.verdict(ok))
  i_half, i_one = list(betas).index(0.5), list(betas).index(1.0)
  out.append(
      f"- *beta < 1 reconstructs better with a larger KL*: beta = 0.5 recon "
      f"{recon[i_half]:.1f} vs {recon[i_one]:.1f} nats, KL {kl[i_half]:.1f} "
      f"vs {kl[i_one]:.1f} (test: lower recon and higher KL than beta = 1): "
      + results.verdict(bool(recon[i_half] < recon[i_one]
                             and kl[i_half] > kl[i_one])))
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
      + results.verdict(rho_g >= TREND_RHO)
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
        f"needs a smaller beta): " + results.verdict(ok))
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
        + results.verdict(bool(rho <= -TREND_RHO)))
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
      "beta = 1): " + results.verdict(bool(
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
      "a lower TC and a higher MI than the beta-VAE): " + results.verdict(ok))


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
      steps, recon = series(wd, "train", "recon", row["name"])
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
      f"early recon and no more jitter): " + results.verdict(ok))


def _capacity_claim(workdir: str) -> str:
  """Whether the capacity run's latents switched on at steps of their own."""
  onsets = results.switch_on_steps(metric_writer.read_metrics(workdir))
  distinct = len(set(onsets.values()))
  return (
      "- *The capacity objective switches latents on one at a time as C "
      f"grows*: first step each latent's KL exceeds "
      f"{results.SWITCH_ON_NATS} nats: "
      + (", ".join(f"z{d} at {s}" for d, s in onsets.items()) or "none")
      + f" ({distinct} distinct onsets for {len(onsets)} latents; test: at "
      "least 3 in 4 latents switch on at a step of their own): "
      + results.verdict(results.one_at_a_time(onsets)))


def grid_models(runs: dict[str, list[dict]]) -> dict[str, list[dict]]:
  """The model grid: the sweep's first seed at the grid's betas as the
  conv / 10-latent cell, and the grid's own runs."""
  betas = {r["beta"] for name in GRID_RUNS for r in runs.get(name, ())}
  seed = min(r["seed"] for r in runs["sweep"])
  grid = {"conv_z10": [r for r in runs["sweep"]
                       if r["seed"] == seed and r["beta"] in betas]}
  grid.update({n: runs[n] for n in GRID_RUNS if n in runs})
  return grid


def _grid_best(runs: dict[str, list[dict]]) -> dict[str, float]:
  """The beta with the best BEST_BY score for each model of the grid."""
  best = {name: beta for name, rows in grid_models(runs).items()
          if (beta := best_beta(rows)) is not None}
  return best if len(best) > 1 else {}


def best_beta(rows: list[dict]) -> float | None:
  """The beta with the best mean BEST_BY score over seeds; None unscored."""
  betas, score, _ = by_beta(rows, BEST_BY)
  if not np.isfinite(score).any():
    return None
  return float(betas[int(np.nanargmax(score))])
