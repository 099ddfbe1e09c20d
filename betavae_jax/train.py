"""The train loop: state, the jitted population step, the ELBO and hooks.

The step is written for one model and `jax.vmap`-ed over a population axis,
so P models with different beta / seed / C_max train in one compiled
program on the same batches. Randomness is step-indexed (`fold_in(key,
step)`) and the batch at step t is a function of (data seed, t), so a resumed
run needs nothing beyond the checkpointed state to match an uninterrupted one.
Everything else the loop runs periodically (metrics beyond the ELBO,
figures) comes through `hooks.Hook`.
"""

from collections.abc import Callable
import functools
import json
import os
import signal
import time
from typing import Any

from absl import logging
from flax.training import train_state
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from betavae_jax import checkpointing
from betavae_jax import config_json
from betavae_jax import compiler_options
from betavae_jax import config_validation
from betavae_jax import encode_decode
from betavae_jax import hooks as hooks_lib
from betavae_jax import input_pipeline
from betavae_jax import losses
from betavae_jax import metric_writer
from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import schedules
from betavae_jax import sharding
from betavae_jax import workdir_lock

CONFIG_FILE = "config.json"  # The config the run started with.
CHANGES_FILE = "config_changes.jsonl"  # Fields changed on each resume.
CONSOLE_KEYS = ("loss", "recon", "kl", "active_latents", "beta", "gamma",
                "capacity", "lr")


class TrainState(train_state.TrainState):
  """Flax's TrainState plus the first non-finite step (-1 while all finite)."""

  nonfinite_step: jax.Array


class NonFiniteError(FloatingPointError):
  """A loss or gradient became NaN or infinite."""


class Preempted(Exception):
  """SIGTERM or SIGINT arrived before the run wrote anything."""


def create_learning_rate_fn(config: ml_collections.ConfigDict):
  """The learning rate as base value times its schedule shape."""
  return schedules.scaled(schedules.create_schedule(config.optim.lr_schedule),
                          config.optim.learning_rate)


def create_optimizer(
    config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam (optionally after global-norm clipping) on the lr schedule."""
  opt = config.optim
  tx = optax.adam(create_learning_rate_fn(config), b1=opt.b1, b2=opt.b2,
                  eps=opt.eps)
  if opt.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx


def create_train_state(config: ml_collections.ConfigDict, model: models.BetaVAE,
                       image_shape: tuple[int, int, int],
                       key: jax.Array) -> TrainState:
  """One model's state; vmapped over member keys for a population."""
  params = models.init_params(model, image_shape, key)
  return TrainState.create(apply_fn=model.apply, params=params,
                           tx=create_optimizer(config),
                           nonfinite_step=jnp.array(-1, jnp.int32))


def create_population_state(config: ml_collections.ConfigDict,
                            model: models.BetaVAE,
                            image_shape: tuple[int, int, int],
                            members: population_lib.Members) -> TrainState:
  """The population's state: every leaf has a leading member axis."""
  init_keys = jax.vmap(lambda s: population_lib.member_keys(s)[0])(
      members.seed)
  create = functools.partial(create_train_state, config, model, image_shape)
  return jax.jit(jax.vmap(create))(init_keys)


def _objective(config: ml_collections.ConfigDict, terms: dict,
               member: population_lib.Members, step: jax.Array,
               stats: dict | None = None, dataset_size: int | None = None):
  """Weighs the loss terms by the member's beta or capacity at `step`.

  tcvae also needs the batch's posteriors and samples (`stats`) and the
  number of training images its q(z) mixes over.
  """
  obj = config.objective
  if obj.name in ("beta", "tcvae"):
    beta = member.beta * schedules.create_schedule(obj.beta_schedule)(step)
    if obj.name == "beta":
      return losses.beta_vae_objective(terms, beta)
    if dataset_size is None:
      raise ValueError("The tcvae objective needs dataset_size, the number "
                       "of training images.")
    z, mean, logvar = (stats[k].astype(jnp.float32)
                       for k in ("z", "mean", "logvar"))
    return losses.tcvae_objective(terms, z, mean, logvar, dataset_size,
                                  obj.tcvae_alpha, beta, obj.tcvae_gamma,
                                  obj.tcvae_estimator)
  capacity = member.capacity_max * schedules.create_schedule(
      obj.capacity_schedule)(step)
  return losses.capacity_objective(terms, obj.gamma, capacity)


def _loss_fn(params, x: jax.Array, key: jax.Array,
             member: population_lib.Members, step: jax.Array, *,
             apply_fn: Callable, config: ml_collections.ConfigDict,
             dataset_size: int | None = None):
  recon, stats = apply_fn({"params": params}, x, train=True,
                          rngs={"latent": key})
  terms = losses.batch_terms(config.objective.likelihood, recon, x,
                             stats["mean"], stats["logvar"],
                             config.objective.gaussian_std)
  return _objective(config, terms, member, step, stats, dataset_size)


def train_step(
    state: TrainState, images: jax.Array, member: population_lib.Members, *,
    config: ml_collections.ConfigDict, pixel_max: int,
    in_turn: bool = False, dataset_size: int | None = None
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimisation step of one model.

  A non-finite loss or gradient leaves parameters and optimiser state as they
  were and records the step in `nonfinite_step`; the loop raises at its next
  host check, so the last good state is what gets checkpointed.

  With `in_turn`, a population on one CPU device computes its members'
  gradients one after another (`population.in_turn_on_cpu`) and updates
  them all at once: the optimiser is elementwise and batches well, and
  carrying only parameters and gradients through the loop, not the
  optimiser state, makes the population faster (docs/performance.md).
  """
  x = encode_decode.to_float(images, pixel_max)
  key = jax.random.fold_in(population_lib.member_keys(member.seed)[1],
                           state.step)
  gradients = functools.partial(jax.value_and_grad(_loss_fn, has_aux=True),
                                apply_fn=state.apply_fn, config=config,
                                dataset_size=dataset_size)
  if in_turn:
    gradients = population_lib.in_turn_on_cpu(gradients)
  (loss, aux), grads = gradients(state.params, x, key, member, state.step)
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updated = state.apply_gradients(grads=grads)
  keep = lambda new, old: jnp.where(finite, new, old)
  new_state = updated.replace(
      params=jax.tree.map(keep, updated.params, state.params),
      opt_state=jax.tree.map(keep, updated.opt_state, state.opt_state),
      nonfinite_step=jnp.where((state.nonfinite_step < 0) & ~finite,
                               state.step, state.nonfinite_step))
  metrics = dict(aux, loss=loss, grad_norm=grad_norm,
                 lr=create_learning_rate_fn(config)(state.step),
                 active_latents=jnp.sum(
                     aux["kl_per_dim"] > losses.ACTIVE_KL_NATS))
  return new_state, metrics


def eval_step(state: TrainState, images: jax.Array,
              member: population_lib.Members, *,
              config: ml_collections.ConfigDict,
              pixel_max: int) -> dict[str, jax.Array]:
  """Negative ELBO terms with the member's fixed eval key, summed over the
  batch, plus the reconstruction term of the posterior mean."""
  x = encode_decode.to_float(images, pixel_max)
  key = population_lib.member_keys(member.seed)[2]
  variables = {"params": state.params}
  obj = config.objective
  recon, stats = state.apply_fn(variables, x, train=True, rngs={"latent": key})
  terms = losses.batch_terms(obj.likelihood, recon, x, stats["mean"],
                             stats["logvar"], obj.gaussian_std)
  mean_recon, _ = state.apply_fn(variables, x, train=False)
  mean_terms = losses.batch_terms(obj.likelihood, mean_recon, x,
                                  stats["mean"], stats["logvar"],
                                  obj.gaussian_std)
  n = x.shape[0]
  return {"recon": terms["recon"] * n, "kl": terms["kl"] * n,
          "kl_per_dim": terms["kl_per_dim"] * n,
          "recon_posterior_mean": mean_terms["recon"] * n,
          "count": jnp.asarray(n, jnp.float32)}


def population_steps(config: ml_collections.ConfigDict, pixel_max: int,
                     dataset_size: int | None = None):
  """The train and eval steps vmapped over members, not yet jitted.

  `make_steps` jits them; experiments that compile the same program under
  other XLA options (`benchmarks.xla_options`) jit them their way.
  """
  kw = dict(config=config, pixel_max=pixel_max)
  in_turn = population_lib.runs_in_turn(config.model)
  train = functools.partial(train_step, in_turn=in_turn,
                            dataset_size=dataset_size, **kw)
  eval_ = functools.partial(eval_step, **kw)
  if in_turn:  # No optimiser to batch: the whole eval step loops.
    eval_ = population_lib.in_turn_on_cpu(eval_)
  return tuple(jax.vmap(f, in_axes=(0, None, 0)) for f in (train, eval_))


def make_steps(config: ml_collections.ConfigDict, pixel_max: int,
               state_sharding: Any = None, batch_sharding: Any = None,
               dataset_size: int | None = None):
  """The population-vmapped, jitted train and eval steps.

  With shardings (see `sharding.py`) the same program runs data parallel or
  with members spread across devices; without, XLA places it on one device.
  `dataset_size` (the training images) is needed by the tcvae objective.
  """
  p_train, p_eval = population_steps(config, pixel_max, dataset_size)
  if state_sharding is None:
    return (compiler_options.jit(p_train, donate_argnums=0),
            compiler_options.jit(p_eval))
  ins = (state_sharding, batch_sharding, state_sharding)
  return (compiler_options.jit(p_train, in_shardings=ins,
                               out_shardings=(state_sharding, state_sharding),
                               donate_argnums=0),
          compiler_options.jit(p_eval, in_shardings=ins,
                               out_shardings=state_sharding))


def eval_elbo(p_eval, state: TrainState, members, batches) -> list[dict]:
  """Per-member ELBO terms averaged over the evaluation batches."""
  totals = None
  for images in batches:
    out = p_eval(state, images, members)
    totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
  totals = jax.device_get(totals)
  results = []
  for i in range(len(totals["count"])):
    n = totals["count"][i]
    r = {k: v[i] / n for k, v in totals.items() if k != "count"}
    r["elbo"] = -(r["recon"] + r["kl"])
    results.append(r)
  return results


def _member_scalars(prefix: str, names: tuple[str, ...],
                    per_member: list[dict]) -> dict[str, float]:
  """Flattens per-member metrics to 'prefix/metric[/member]' scalars."""
  out = {}
  for name, metrics in zip(names, per_member):
    suffix = f"/{name}" if name else ""
    for k, v in metrics.items():
      v = np.asarray(v)
      if v.ndim == 0:
        out[f"{prefix}/{k}{suffix}"] = float(v)
      else:
        for d, vd in enumerate(v):
          out[f"{prefix}/{k}_{d}{suffix}"] = float(vd)
  return out


def _mean_metrics(history: list[dict], size: int) -> list[dict]:
  """Averages the steps since the last log; one dict per member."""
  stacked = jax.device_get(jax.tree.map(lambda *xs: jnp.stack(xs), *history))
  means = {k: np.mean(v, axis=0) for k, v in stacked.items()}
  return [{k: v[i] for k, v in means.items()} for i in range(size)]


def check_finite(state: TrainState, names: tuple[str, ...]) -> None:
  """Raises if any member met a non-finite loss or gradient.

  The step is numbered as on the console: `nonfinite_step` holds the
  optimiser's count before the update, one less.
  """
  bad = np.asarray(jax.device_get(state.nonfinite_step))
  for i, step in enumerate(bad):
    if step >= 0:
      raise NonFiniteError(
          f"Non-finite loss or gradient at step {int(step) + 1} in population "
          f"member {i} ({names[i] or 'the only member'}); its parameters were "
          "left at their last finite values and no further checkpoint was "
          "written. Lower optim.learning_rate or set optim.grad_clip_norm.")


def _stop_if_nonfinite(state: TrainState, names: tuple[str, ...],
                       history: list[dict], step: int,
                       writer: metric_writer.MetricWriter) -> None:
  """Writes each step's record up to the first non-finite one, then raises.

  `history` holds the metrics of the steps since the last log, ending at
  `step`; without this a NaN before a log step would leave no record of
  the steps that led to it.
  """
  bad = np.asarray(jax.device_get(state.nonfinite_step))
  if np.all(bad < 0):
    return
  first = int(bad[bad >= 0].min()) + 1  # Console numbering.
  window_start = step - len(history) + 1
  upto = history[:max(0, first - window_start + 1)]
  for offset, metrics in enumerate(upto):
    writer.write_scalars(window_start + offset, _member_scalars(
        "train", names, _mean_metrics([metrics], len(names))))
  writer.flush()
  check_finite(state, names)


class _Preemption:
  """SIGTERM / SIGINT: an exception during start-up, then a loop flag.

  Until `defer()` nothing has been written, so the signal stops start-up at
  once (`Preempted`). After it the loop checks the flag between steps and
  saves before exiting.
  """

  def __init__(self):
    self.signal = None
    self._deferred = False
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    self.signal = signal.Signals(signum).name
    if not self._deferred:
      raise self._stopped()

  def _stopped(self) -> Preempted:
    return Preempted(f"Received {self.signal} during start-up; stopped "
                     "before training, nothing was written.")

  def defer(self) -> None:
    """From now on a signal only sets the flag the loop checks.

    A signal already received stops start-up here: its exception can have
    been raised inside a callback that ignores exceptions (JAX's gc hook).
    """
    if self.signal is not None:
      raise self._stopped()
    self._deferred = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def run_meta(config, pop, dataset, step: int) -> dict:
  """What a checkpoint records beyond the state: shapes, members, data."""
  return {"model": config.model.to_dict(), "population": pop.to_dict(),
          "image_shape": list(dataset.image_shape),
          "data": {"version": dataset.version},
          "optim": {"name": "adam"},
          "input_position": {"data_seed": config.data.seed, "step": step,
                             "batch_size": config.train.batch_size}}


def _initial_state(
    config, model, image_shape, members, workdir, meta,
    state_sh) -> tuple[TrainState, checkpointing.Restored | None]:
  """Restores the newest checkpoint, else initialises (or init_from).

  Reads only: start_fresh ignores the workdir's checkpoints here, and
  `_record_start` moves them aside once the run is known to start.
  """
  state = jax.device_put(
      create_population_state(config, model, image_shape, members), state_sh)
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      state)
  restored = None
  if not config.train.start_fresh:
    restored = checkpointing.restore_latest(
        workdir, abstract, meta,
        allow_data_change=config.data.get("allow_version_change", False))
  if restored is not None:
    logging.info("Resumed from step %d.", int(restored.state.step[0]))
    return restored.state, restored
  if config.init_from:
    _, params = checkpointing.restore_params(config.init_from, state.params)
    logging.info("Initialised parameters from %s.", config.init_from)
    state = state.replace(params=params)
  return state, None


def _record_start(config: ml_collections.ConfigDict, workdir: str,
                  restored: checkpointing.Restored | None) -> None:
  """Sets an old run aside (start_fresh) and records the config.

  config.json is the config the run started with and is never rewritten
  by a resume: a resume under changed fields warns, naming old and new
  values, and appends them to config_changes.jsonl, while every checkpoint
  keeps its own segment's config.
  """
  if config.train.start_fresh:
    checkpointing.set_aside_run(workdir, keep=(workdir_lock.LOCK_FILE,))
  path = os.path.join(workdir, CONFIG_FILE)
  if restored is None or not os.path.exists(path):
    config_json.write(path, config.to_dict(), indent=2)
    return
  saved = restored.config
  if saved is None:  # A checkpoint saved without its config.
    with open(path) as f:
      saved = json.load(f)
  changes = checkpointing.config_changes(saved, config.to_dict())
  for field, old, new in changes:
    if old is checkpointing.ABSENT:  # A field newer than the checkpoint.
      logging.info("Resuming at step %d: config.%s is new since the "
                   "checkpoint (%r).", restored.step, field, new)
    else:
      logging.warning("Resuming at step %d with config.%s changed: %r -> "
                      "%r.", restored.step, field, old, new)
  if changes:
    record = {"step": restored.step, "changes": {
        field: {"old": old, "new": new} for field, old, new in changes}}
    with open(os.path.join(workdir, CHANGES_FILE), "a") as f:
      f.write(json.dumps(record, default=str) + "\n")


def _shut_down(manager, writer: metric_writer.MetricWriter) -> None:
  """Finishes the in-flight save and closes the files, on every exit.

  After an error (a NaN, a full disk) this still completes the last good
  save; its own failure is logged in one line, not raised over the error
  that ended the loop.
  """
  try:
    manager.close()  # Waits for the in-flight save first.
  except Exception as e:  # pylint: disable=broad-except
    logging.warning("The last save did not finish: %s",
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
  try:
    writer.close()
  except OSError as e:
    logging.warning("Could not close the metric files: %s", e)


def _due(step: int, every: int, last: int) -> bool:
  """Whether a periodic action (every 0: never) falls on `step`."""
  return every > 0 and (step % every == 0 or step == last)


class _Throughput:
  """Steps/s, images/s and ETA between log steps, excluding evaluation."""

  def __init__(self, step: int, images_per_step: int):
    self._step, self._time = step, time.time()
    self._images_per_step = images_per_step

  def pause_until_now(self) -> None:
    """Restarts the clock so evaluation time does not count as training."""
    self._time = time.time()

  def scalars(self, step: int, num_steps: int) -> dict[str, float]:
    now = time.time()
    rate = (step - self._step) / max(now - self._time, 1e-9)
    self._step, self._time = step, now
    return {"train/steps_per_sec": rate,
            "train/images_per_sec": rate * self._images_per_step,
            "train/eta_min": (num_steps - step) / rate / 60}


def _log_console(step: int, names: tuple[str, ...], per_member: list[dict],
                 scalars: dict[str, float]) -> None:
  """One line per member, then throughput."""
  for name, metrics in zip(names, per_member):
    shown = ", ".join(f"{k}={float(metrics[k]):.4g}" for k in CONSOLE_KEYS
                      if k in metrics)
    logging.info("[%d] %s%s", step, f"{name}: " if name else "", shown)
  logging.info("[%d] %.1f steps/s, %.0f images/s, ETA %.1f min", step,
               scalars["train/steps_per_sec"], scalars["train/images_per_sec"],
               scalars["train/eta_min"])


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str,
    hooks: hooks_lib.HookFactory = hooks_lib.default_hooks,
    until_step: int | None = None) -> TrainState:
  """Trains the configured population, resuming from `workdir` if possible.

  Args:
    config: the run's config (see configs/dsprites.py).
    workdir: where checkpoints, metrics.jsonl, TensorBoard events and
      config.json go.
    hooks: builds the periodic hooks once the run starts (see hooks.py);
      the default scores, computes latent statistics and draws as the
      config says.
    until_step: stop after this step (saved), as a preemption would, so a
      long run can be trained in stretches (and scored in between); None
      trains to `config.train.num_train_steps`. Logs, evaluations and
      checkpoints fall where they would without it.

  Returns:
    The final population train state.

  Raises:
    config_validation.ConfigError, input_pipeline.DataError: before
      anything is written.
    workdir_lock.WorkdirError: another trainer holds `workdir`, or it is
      not writable; nothing is written.
    checkpointing.ShapeMismatchError, checkpointing.DataVersionError: the
      workdir's checkpoint does not fit the config; nothing is written.
    Preempted: SIGTERM or SIGINT during start-up; nothing is written.
    NonFiniteError, checkpointing.CheckpointError: the run stopped; the
      newest checkpoint is complete.
  """
  with _Preemption() as preemption:
    config_validation.validate(config)
    with workdir_lock.hold(workdir):
      return _train(config, workdir, preemption, hooks, until_step)


def train_or_resume(config: ml_collections.ConfigDict, workdir: str,
                    until_step: int | None = None) -> bool:
  """`train_and_evaluate` for callers that rerun one command until it is done.

  Returns:
    Whether the run reached its last step (or `until_step`, where that
    comes first). False after SIGTERM / SIGINT,
    which save a checkpoint and return early, or stop start-up before
    anything is written (`Preempted`, logged); either way calling again
    resumes. Every other error propagates as from `train_and_evaluate`.
  """
  try:
    state = train_and_evaluate(config, workdir, until_step=until_step)
  except Preempted as e:
    logging.info("%s", e)
    return False
  last = config.train.num_train_steps
  return int(jax.device_get(state.step[0])) >= min(until_step or last, last)


def _train(config: ml_collections.ConfigDict, workdir: str,
           preemption: _Preemption, hooks: hooks_lib.HookFactory,
           until_step: int | None = None) -> TrainState:
  """Start-up (reading only until the run can start), then the loop."""
  dataset = input_pipeline.load_dataset(config.data)
  config_validation.validate_image_shape(config, dataset.image_shape)
  pop = population_lib.from_config(config)
  members = pop.members()
  logging.info("Population of %d: %s", pop.size, pop.names)
  model = models.create_model(config.model, dataset.image_shape)
  # A log read alone then says what ran: every knob, and the model's size.
  logging.info("Hyperparameters:\n%s", config)
  logging.info("Parameters per model: %s",
               f"{models.num_params(config.model, dataset.image_shape):,}")

  train_cfg = config.train
  meta = run_meta(config, pop, dataset, 0)
  mesh = sharding.create_mesh()
  state_sh = sharding.state_sharding(mesh, pop.size)
  batch_sh = sharding.batch_sharding(mesh, pop.size)
  members = jax.device_put(members, state_sh)
  state, restored = _initial_state(config, model, dataset.image_shape,
                                   members, workdir, meta, state_sh)
  preemption.defer()  # The run starts: from here a signal ends it at a step.
  _record_start(config, workdir, restored)
  manager = checkpointing.create_manager(
      workdir, train_cfg.max_checkpoints_to_keep,
      train_cfg.keep_checkpoint_every_steps)
  start_step = int(jax.device_get(state.step[0]))
  writer = metric_writer.MetricWriter(workdir, start_step)
  p_train, p_eval = make_steps(config, dataset.pixel_max, state_sh, batch_sh,
                               dataset_size=len(dataset.train_indices))
  shard_index, num_shards = sharding.host_shard(batch_sh)
  batches = input_pipeline.batch_iterator(
      dataset, train_cfg.batch_size, config.data.seed, start_step=start_step,
      shard_index=shard_index, num_shards=num_shards)

  def save(step: int) -> None:
    _stop_if_nonfinite(state, pop.names, history, step, writer)
    checkpointing.save(manager, step, state, config.to_dict(),
                       run_meta(config, pop, dataset, step))

  def eval_batches(split: str = "eval"):
    for b in input_pipeline.eval_batches(
        dataset, train_cfg.eval_batch_size, train_cfg.eval_num_examples,
        shard_index, num_shards, split):
      yield sharding.put_batch(b, batch_sh)

  encode, decode = encode_decode.jitted_population(
      model, dataset.pixel_max,
      in_turn=population_lib.runs_in_turn(config.model))
  periodic = hooks(hooks_lib.RunContext(
      config=config, workdir=workdir, dataset=dataset, names=pop.names,
      writer=writer, encode=encode, decode=decode))

  num_steps = train_cfg.num_train_steps
  history, timer = [], _Throughput(start_step, train_cfg.batch_size * pop.size)
  stop = num_steps if until_step is None else min(until_step, num_steps)
  step = start_step
  try:
    for step in range(start_step + 1, stop + 1):
      images = sharding.put_batch(next(batches), batch_sh)
      state, metrics = p_train(state, images, members)
      history.append(metrics)
      scalars = {}
      if _due(step, train_cfg.log_every_steps, num_steps):
        _stop_if_nonfinite(state, pop.names, history, step, writer)
        per_member = _mean_metrics(history, pop.size)
        history = []
        scalars.update(_member_scalars("train", pop.names, per_member))
        scalars.update(timer.scalars(step, num_steps))
        _log_console(step, pop.names, per_member, scalars)
      due_eval = _due(step, train_cfg.eval_every_steps, num_steps)
      due_hooks = [h for h in periodic if _due(step, h.every_steps, num_steps)]
      results = [{} for _ in pop.names]
      if due_eval:
        results = eval_elbo(p_eval, state, members, eval_batches())
      for hook in due_hooks:
        extra = hook.run(step, state.params)
        if extra is not None:
          results = [dict(r, **s) for r, s in zip(results, extra)]
      if any(results):
        scalars.update(_member_scalars("eval", pop.names, results))
      if due_eval and len(dataset.eval_indices):  # Seen vs unseen.
        scalars.update(_member_scalars("eval_train", pop.names, eval_elbo(
            p_eval, state, members, eval_batches("train"))))
      if due_eval or due_hooks:
        timer.pause_until_now()
      if scalars:
        writer.write_scalars(step, scalars)
      due_save = (_due(step, train_cfg.checkpoint_every_steps, num_steps)
                  or step == stop)
      if due_save or preemption.signal is not None:
        save(step)
      if preemption.signal is not None:
        checkpointing.wait(manager)
        logging.info("Received %s: saved step %d to %s; exiting.",
                     preemption.signal, step, manager.directory)
        break
    checkpointing.wait(manager)
  finally:
    _shut_down(manager, writer)
  return state
