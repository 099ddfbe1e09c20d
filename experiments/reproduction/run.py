r"""Trains, scores, draws and ships the reproduction study; resumable.

  python -m experiments.reproduction.run --workdir=$HOME/reproduction \
      [--runs=beta,capacity] [--train=true] [--out=experiments/reproduction] \
      [--official_frames=<dsprites.gif>]
  python -m experiments.reproduction.run --workdir=$HOME/reproduction \
      --write_state

Each run (a preset of experiments/reproduction/config.py) trains in
`<workdir>/<run>` with `train.train_and_evaluate`, exactly what
`python -m betavae_jax.main --config=experiments/reproduction/config.py:<run>
--workdir=<workdir>/<run>` does, so either command resumes the other's run.
The runs train in turn, each up to the study's next evaluation step, and
every kept checkpoint at an evaluation step is scored as soon as the run
passes it, once, with the whole metric suite at the published sizes, at
three keys (`suite.evaluate_run(..., draws=3)`); its figures are drawn, and
the results land in --out:

  results/<run>/metrics_<step>.json  scores, spreads and UDR per step;
  results/<run>/status.json          steps reached, data version;
  results/<run>/curve.json           held-out and training ELBO terms at
                                     every evaluation, train KL per latent;
  plots/<run>/<step>/                traversals, reconstructions, response;
  README.md                          the report (report.py).

With --ship, the members of each run's last scored step become the
package's shipped models (betavae_jax/pretrained_models/<name>/).
--train=false scores and reports what is there without training further.

An unfinished run's newest resumable state lives in `<out>/state/<run>/`
(`betavae_jax.run_state`), so the study continues from a clone on any
machine: where a run's workdir is missing or behind its state, the run
continues from the state; where the workdir is ahead, the workdir wins.
--write_state replaces each run's state with its workdir's newest
checkpoint (whole or not at all), removes a finished and scored run's
state, brings the report's run table up to date, and exits. A state that
does not fit its preset's config stops the command with exit status 2
before anything is written.
"""

import functools
import os
import shutil
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from betavae_jax import checkpointing
from betavae_jax import config_json
from betavae_jax import input_pipeline
from betavae_jax import losses
from betavae_jax import metric_writer
from betavae_jax import pretrained
from betavae_jax import population as population_lib
from betavae_jax import process
from betavae_jax import reporting
from betavae_jax import run_state
from betavae_jax import startup
from betavae_jax import train
from betavae_jax import trained_run
from betavae_jax.datasets import dsprites_render
from betavae_jax.datasets import official_frames
from betavae_jax.evaluation import sampling
from betavae_jax.evaluation import scores
from betavae_jax.evaluation import suite
from betavae_jax.plotting import arrays
from betavae_jax.plotting import figures
from betavae_jax.plotting import files

from experiments import results
from experiments.reproduction import config as study
from experiments.reproduction import report

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where the runs train (one folder per run).",
    required=True)
_RUNS = flags.DEFINE_list("runs", ["beta", "capacity"],
                          f"Presets of config.py to run: {study.PRESETS}.")
_TRAIN = flags.DEFINE_bool("train", True, "Train (or resume) each run first.")
_OUT = flags.DEFINE_string(
    "out", os.path.dirname(os.path.abspath(__file__)),
    "Where results/, plots/ and README.md go.")
_STATE = flags.DEFINE_string(
    "state", None, "Where each unfinished run's state lives, one folder per "
    "run (default: <out>/state).")
_WRITE_STATE = flags.DEFINE_bool(
    "write_state", False, "Write each run's newest state into --state "
    "(removing a finished run's), update the report's run table and exit; "
    "nothing trains or is scored.")
_SHIP = flags.DEFINE_string(
    "ship", None, "Export the last scored members here as shipped models "
    "(e.g. betavae_jax/pretrained_models).")

_FRAMES = flags.DEFINE_string(
    "official_frames", None,
    "The official dSprites animation (dsprites.gif of "
    "deepmind/dsprites-dataset: 320 frames of the official images), read "
    "where given: each scored step's reconstructions of it go in "
    "results/<run>/official_frames_<step>.json.")

# The training log's parts the report plots: held-out terms on both
# splits, and the training KL in total and per latent.
CURVE_KEYS = (("eval", None), ("eval_train", None), ("train", "kl"),
              ("train", "kl_per_dim"))


def score_step(run: trained_run.TrainedRun, scoring: dict) -> dict:
  """The suite at the run's step, with each member's latent-factor map."""
  logging.info("Scoring %s at step %d (%s).", run.workdir, run.step, scoring)
  result = suite.evaluate_run(run, suite.Scoring(
      scale=scoring["scale"], num_train=scoring["points"][0],
      num_test=scoring["points"][1], draws=scoring["draws"],
      seed=scoring["seed"], iwae_samples=scoring["iwae_samples"],
      iwae_images=scoring["iwae_images"]))
  for member, factor_map in zip(result["members"], latent_factor(
      run, scoring["points"][0], scoring["seed"])):
    member["latent_factor"] = factor_map
  result["workdir"] = os.path.basename(os.path.normpath(run.workdir))
  return result


def latent_factor(run: trained_run.TrainedRun, num: int, seed: int
                  ) -> list[dict]:
  """Per member, |Spearman rho| of each latent's mean with each factor."""
  data = run.dataset.ground_truth
  factors = data.sample_factors(num, np.random.default_rng(seed))
  keep = sampling.varying_factors(data)
  means = suite.representation_fn(run.encode_fn(), "mean")(
      data.images_from_factors(factors))
  names = [data.factor_names[k] for k in keep]
  return [{"factors": names,
           "rho": scores.factor_correlation(m, factors[:, keep]).tolist()}
          for m in means]


def score_official_frames(run: trained_run.TrainedRun,
                          frames_path: str) -> dict:
  """Each member's reconstruction of the official frames and of the
  rendered images of the same cells, per shape.

  The models train on rendered images; this tells what a user with the
  official file would see, on the 320 official frames of the dataset's
  repository.
  """
  frames = official_frames.read(frames_path)
  factors, differing = official_frames.identify(frames)
  rendered = dsprites_render.render(factors)
  encode, decode = run.encode_fn(), run.decode_fn()
  per_image = jax.vmap(jax.vmap(losses.bernoulli_log_likelihood),
                       in_axes=(0, None))  # Every member, the same images.
  recon = {}
  for name, images in (("official", frames[..., None]),
                       ("rendered", rendered)):
    mean, _ = encode(images)
    recon[name] = -np.asarray(per_image(decode(mean), jnp.asarray(
        images, jnp.float32)))  # (P, N) nats.
  result = {"step": run.step, "frames": len(frames),
            "data_version": run.dataset.version, "members": []}
  for i, member in enumerate(run.population.names):
    by_shape = {}
    for k, shape in enumerate(official_frames.SHAPES):
      of = factors[:, 0] == k
      by_shape[shape] = {
          "frames": int(of.sum()),
          "differing_pixels": int(differing[of].sum()),
          **{f"recon_{name}": float(r[i, of].mean())
             for name, r in recon.items()}}
    result["members"].append({
        "name": member,
        **{f"recon_{name}": float(r[i].mean()) for name, r in recon.items()},
        "by_shape": by_shape})
  return result


def _on_curve(key: str) -> bool:
  parsed = reporting.parse_key(key)
  return parsed is not None and any(
      parsed.prefix == prefix and metric in (None, parsed.metric)
      for prefix, metric in CURVE_KEYS)


def write_curve(workdir: str, out: str) -> str:
  """The logged scalars the report plots, kept small enough for git."""
  records = []
  for record in metric_writer.read_metrics(workdir):
    kept = {k: v for k, v in record.items() if _on_curve(k)}
    if kept:
      records.append(dict(kept, step=record["step"]))
  path = os.path.join(out, "curve.json")
  os.makedirs(out, exist_ok=True)
  config_json.write(path, {"records": records})
  return path


def write_status(workdir: str, preset: str, out: str) -> str:
  """How far the run is, and on which data: for the report's run table."""
  run = trained_run.load(workdir, in_memory=False)
  path = os.path.join(out, "status.json")
  os.makedirs(out, exist_ok=True)
  config_json.write(path, {
      "preset": preset, "step": run.step,
      "num_train_steps": run.config.train.num_train_steps,
      "members": list(run.population.names),
      "data_version": run.dataset.version,
      "command": "python -m betavae_jax.main --config=experiments/"
                 f"reproduction/config.py:{preset} --workdir=<dir>/{preset}"})
  return path


def draw_step(run: trained_run.TrainedRun, out: str, animate: bool) -> None:
  """Figures of every member at the run's step (PNG; GIFs with `animate`)."""
  # One traversal seed image per step keeps the kept figures to a few MB.
  pictures, animations = figures.run_figures(
      run, options=arrays.Options(num_traversal_images=1),
      animate=animate)
  files.save(out, pictures, animations)


HELDOUT_TERMS = ("elbo", "recon", "recon_posterior_mean", "kl", "mi", "tc",
                 "dim_kl", "active_latents")
SHIPPED_SCORES = ("beta_vae.eval_accuracy", "factor_vae.eval_accuracy",
                  "mig.mig", "dci.disentanglement", "sap.sap",
                  "modularity.modularity", "iwae.log_likelihood")


def member_facts(workdir: str, step: int, member: str, scored: dict) -> dict:
  """A member's held-out terms and scores at `step`, for its info.json.

  They let a user (and the tests on the shipped weights) check a loaded
  model against what the study measured.
  """
  heldout = next(
      values for r in metric_writer.read_metrics(workdir) if r["step"] == step
      for values in [results.by_member(r, "eval").get(member, {})]
      if "elbo" in values)
  scores_of = next(m for m in scored["members"] if m["name"] == member)
  spread = scores_of["spread"]
  kl = heldout["kl_per_dim"]
  return {"heldout": {t: heldout[t] for t in HELDOUT_TERMS},
          "scores": {k: spread[k]["mean"] for k in SHIPPED_SCORES
                     if k in spread},
          "latent_factor": carried_factors(kl, scores_of["latent_factor"])}


def carried_factors(kl_per_dim: list[float], factor_map: dict) -> dict:
  """{'z<d>': {factor, rho}} of each active latent, by falling KL.

  The factor a latent's posterior mean correlates with most (abs
  Spearman rho), as the report's latent-factor table shows it.
  """
  rho = np.asarray(factor_map["rho"])
  active = [d for d in np.argsort(-np.asarray(kl_per_dim))
            if kl_per_dim[d] > losses.ACTIVE_KL_NATS]
  return {f"z{d}": {"factor": factor_map["factors"][int(np.argmax(rho[d]))],
                    "rho": float(rho[d].max())} for d in active}


def ship(workdir: str, step: int, name_of: dict, directory: str,
         facts: dict, scored: dict) -> list[str]:
  """Exports each member's parameters at `step` as a shipped model."""
  run = trained_run.load(workdir, step, in_memory=False)
  pop = run.population
  written = []
  for i, member in enumerate(pop.names):
    name = name_of[member]
    config = run.config.copy_and_resolve_references()
    config.population.betas = (pop.betas[i],)
    config.population.seeds = (pop.seeds[i],)
    config.population.capacity_maxes = (pop.capacity_maxes[i],)
    folder = os.path.join(directory, name)
    if os.path.isdir(folder):
      shutil.rmtree(folder)
    params = jax.tree.map(lambda a, i=i: a[i], run.params)
    pretrained.export(params, config, run.dataset.image_shape, folder,
                      dict(facts, name=name, step=run.step,
                           member=member or "the only member",
                           beta=pop.betas[i], seed=pop.seeds[i],
                           capacity_max=pop.capacity_maxes[i],
                           objective=run.config.objective.name,
                           data_version=run.dataset.version,
                           **member_facts(workdir, run.step, member,
                                          scored)))
    written.append(folder)
  return written


def kept_eval_steps(workdir: str, preset: str) -> list[int]:
  """The study's evaluation steps that have a checkpoint in `workdir`."""
  directory = os.path.join(workdir, "checkpoints")
  saved = {int(n) for n in os.listdir(directory) if n.isdigit()} if (
      os.path.isdir(directory)) else set()
  return [s for s in study.eval_steps(preset) if s in saved]


def expected_meta(config) -> dict:
  """The run metadata a checkpoint of `config` carries (shapes, data)."""
  dataset = input_pipeline.load_dataset(config.data)
  return startup.run_meta(config, population_lib.from_config(config), dataset,
                        0)


def continue_from_state(config, workdir: str, state_dir: str) -> None:
  """Puts the run's state into its workdir where that is missing or behind.

  Raises:
    checkpointing.ShapeMismatchError, checkpointing.DataVersionError: the
      state is another run's; nothing was written.
    run_state.StateError: the state is damaged; nothing was written.
  """
  state = run_state.read(state_dir)
  if state is None or not run_state.is_behind(workdir, state):
    return  # Nothing kept, or the workdir is at or past it: it wins.
  run_state.check_fits(state, config.name, expected_meta(config))
  run_state.continue_into(state, workdir)


def scored_to_the_end(preset: str, out: str) -> bool:
  """Whether the run's last evaluation step is scored: the run is done."""
  last = study.eval_steps(preset)[-1]
  return os.path.exists(results.scores_path(
      os.path.join(out, "results", preset), last))


def write_state(preset: str, workdir: str, state_dir: str, out: str) -> str:
  """Replaces the run's state with its newest checkpoint; says what it did.

  A finished run's state is removed once its last evaluation step is
  scored; a workdir behind the state (or missing) leaves the state alone.
  """
  step = run_state.workdir_step(workdir)
  held = run_state.read(state_dir)
  if step is None or (held is not None and held.step >= step):
    return (f"{preset}: state kept at step {held.step}" if held
            else f"{preset}: no run, no state")
  if step >= study.get_config(preset).train.num_train_steps:
    if not scored_to_the_end(preset, out):
      raise run_state.StateError(
          f"{preset} finished but step {study.eval_steps(preset)[-1]} is "
          "not scored yet; run the study once more (it scores), then write "
          "the state.")
    run_state.remove(state_dir)
    return f"{preset}: finished at step {step}; state removed"
  state = run_state.write(workdir, state_dir)
  size = sum(os.path.getsize(os.path.join(root, n))
             for root, _, names in os.walk(state.path) for n in names)
  return f"{preset}: state at step {state.step} ({size / 2**20:.1f} MiB)"


def score_run(preset: str, workdir: str, out: str) -> tuple[list[int], dict]:
  """Scores and draws every kept evaluation step not done yet.

  Returns the scored steps and the last one's scores.
  """
  folder = os.path.join(out, "results", preset)
  config = study.get_config(preset)
  write_curve(workdir, folder)
  write_status(workdir, preset, folder)
  steps = kept_eval_steps(workdir, preset)
  scores, settings = {}, {"suite": study.scoring(preset)}
  for step in steps:
    frames = os.path.join(folder, f"official_frames_{step}.json")
    frames_due = (config.data.name == "dsprites" and _FRAMES.value
                  and not os.path.exists(frames))
    plots = os.path.join(out, "plots", preset, str(step))
    run = functools.cache(  # Once a step, and only if something is due.
        lambda s=step: trained_run.load(workdir, s, in_memory=False))
    scores = results.cached_scores(
        results.scores_path(folder, step), settings,
        lambda done, stale: score_step(run(), settings["suite"]))
    if frames_due:
      config_json.write(frames, score_official_frames(run(), _FRAMES.value))
    if not os.path.isdir(plots):
      draw_step(run(), plots, animate=step == steps[-1])
  return steps, scores


def segment_ends(presets: list[str]) -> list[int]:
  """The steps the runs train to in turn: every evaluation step, the ends."""
  ends = {step for p in presets for step in study.eval_steps(p)}
  ends |= {study.get_config(p).train.num_train_steps for p in presets}
  return sorted(ends)


def clear_superseded(preset: str, out: str) -> None:
  """Removes the results and figures of an earlier run of `preset`.

  Called when the run starts from step 0: they describe another run, and
  the cached scores would otherwise stand in for the new run's.
  """
  for folder in (os.path.join(out, "results", preset),
                 os.path.join(out, "plots", preset)):
    if os.path.isdir(folder):
      shutil.rmtree(folder)
      logging.warning("%s starts from step 0: removed the earlier run's %s.",
                      preset, folder)


def train_in_turn(presets: list[str], workdirs: dict[str, str],
                  out: str) -> bool:
  """Trains the runs in turn up to each evaluation step and scores it there.

  So no kept checkpoint has to outlive the machine to be scored. Returns
  False if a signal stopped training (run the command again to resume).
  """
  # A finished run keeps no state, so on a fresh machine it has no workdir
  # either: its results are all that is left of it, and they stay.
  done = [p for p in presets if run_state.workdir_step(workdirs[p]) is None
          and scored_to_the_end(p, out)]
  for preset in done:
    logging.info("%s is finished and scored; nothing to train.", preset)
  to_train = [p for p in presets if p not in done]
  for preset in to_train:
    if run_state.workdir_step(workdirs[preset]) is None:
      clear_superseded(preset, out)
  for end in segment_ends(to_train):
    for preset in to_train:
      config, workdir = study.get_config(preset), workdirs[preset]
      step = run_state.workdir_step(workdir) or 0
      if step >= min(end, config.train.num_train_steps):
        continue
      if not train.train_or_resume(config, workdir, until_step=end):
        return False
      score_run(preset, workdir, out)
      report.write_report(out, presets)
  return True


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  process.setup()
  out = _OUT.value
  states = _STATE.value or os.path.join(out, "state")
  presets = list(_RUNS.value)
  if _FRAMES.value and not os.path.isfile(_FRAMES.value):
    _exit(f"Error: --official_frames: no file at {_FRAMES.value}.", 2)
  workdirs = {p: os.path.join(_WORKDIR.value, p) for p in presets}
  try:
    if _WRITE_STATE.value:
      for preset in presets:
        print(write_state(preset, workdirs[preset],
                          os.path.join(states, preset), out))
        if os.path.isdir(workdirs[preset]):  # The report says where it is.
          folder = os.path.join(out, "results", preset)
          write_curve(workdirs[preset], folder)
          write_status(workdirs[preset], preset, folder)
      print(f"Wrote {report.write_report(out, presets)}")
      return
    for preset in presets:
      continue_from_state(study.get_config(preset), workdirs[preset],
                          os.path.join(states, preset))
  except (checkpointing.ShapeMismatchError,
          checkpointing.DataVersionError) as e:
    _exit(f"Config error: {e}", 2)
  except run_state.StateError as e:
    _exit(f"Error: {e}", 1)
  if _TRAIN.value and not train_in_turn(presets, workdirs, out):
    logging.info("Interrupted; run the same command again to resume.")
    return
  for preset in presets:
    workdir = workdirs[preset]
    if not os.path.isdir(workdir):
      logging.info("No workdir at %s: %s is reported from the results "
                   "kept in %s, if any.", workdir, preset, out)
      continue
    steps, scored = score_run(preset, workdir, out)
    if _SHIP.value and steps:
      for folder in ship(workdir, steps[-1], study.shipped_names(preset),
                         _SHIP.value, {"study": f"reproduction:{preset}"},
                         scored):
        print(f"Shipped {folder}")
  print(f"Wrote {report.write_report(out, presets)}")


def _exit(message: str, status: int) -> None:
  """One line on stderr, then the exit status; no traceback."""
  print(" ".join(message.split("\n")), file=sys.stderr)
  sys.exit(status)


if __name__ == "__main__":
  app.run(main)
