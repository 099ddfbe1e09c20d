"""The train loop: step, due hooks, save.

`train_and_evaluate(config, workdir)` starts or resumes a run
(`startup.py`), trains the population with the jitted step (`steps.py`),
calls the periodic hooks that evaluate, score and draw (`hooks.py`),
reports (`reporting.py`) and saves. The batch at step t is a function of
(data seed, t) and the step's randomness of (member seed, t), so a resumed
run needs nothing beyond the checkpointed state to match an uninterrupted
one.
"""

from absl import logging
import jax
import ml_collections

from betavae_jax import checkpointing
from betavae_jax import config_validation
from betavae_jax import encode_decode
from betavae_jax import hooks as hooks_lib
from betavae_jax import input_pipeline
from betavae_jax import metric_writer
from betavae_jax import models
from betavae_jax import population as population_lib
from betavae_jax import reporting
from betavae_jax import sharding
from betavae_jax import startup
from betavae_jax import steps
from betavae_jax import workdir_lock


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str,
    hooks: hooks_lib.HookFactory = hooks_lib.default_hooks,
    until_step: int | None = None) -> steps.TrainState:
  """Trains the configured population, resuming from `workdir` if possible.

  Args:
    config: the run's config (see configs/dsprites.py).
    workdir: where checkpoints, metrics.jsonl, TensorBoard events and
      config.json go.
    hooks: builds the periodic hooks once the run starts (see hooks.py);
      the default evaluates the ELBO, scores, computes latent statistics
      and draws as the config says.
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
    startup.Preempted: SIGTERM or SIGINT during start-up; nothing is
      written.
    reporting.NonFiniteError, checkpointing.CheckpointError: the run
      stopped; the newest checkpoint is complete.
  """
  with startup.Preemption() as preemption:
    config_validation.validate(config)
    with workdir_lock.hold(workdir):
      return _train(config, workdir, preemption, hooks, until_step)


def train_or_resume(config: ml_collections.ConfigDict, workdir: str,
                    until_step: int | None = None) -> bool:
  """`train_and_evaluate` for callers that rerun one command until it is done.

  Returns:
    Whether the run reached its last step (or `until_step`, where that
    comes first). False after SIGTERM / SIGINT, which save a checkpoint
    and return early, or stop start-up before anything is written
    (`Preempted`, logged); either way calling again resumes. Every other
    error propagates as from `train_and_evaluate`.
  """
  try:
    state = train_and_evaluate(config, workdir, until_step=until_step)
  except startup.Preempted as e:
    logging.info("%s", e)
    return False
  last = config.train.num_train_steps
  return int(jax.device_get(state.step[0])) >= min(until_step or last, last)


def _due(step: int, every: int, last: int) -> bool:
  """Whether a periodic action (every 0: never) falls on `step`."""
  return every > 0 and (step % every == 0 or step == last)


def _train(config: ml_collections.ConfigDict, workdir: str,
           preemption: startup.Preemption, hooks: hooks_lib.HookFactory,
           until_step: int | None) -> steps.TrainState:
  """Start-up (reading only until the run can start), then the loop."""
  dataset = input_pipeline.load_dataset(config.data)
  config_validation.validate_image_shape(config, dataset.image_shape)
  pop = population_lib.from_config(config)
  logging.info("Population of %d: %s", pop.size, pop.names)
  model = models.create_model(config.model, dataset.image_shape)
  # A log read alone then says what ran: every knob, and the model's size.
  logging.info("Hyperparameters:\n%s", config)
  logging.info("Parameters per model: %s",
               f"{models.num_params(config.model, dataset.image_shape):,}")

  train_cfg = config.train
  mesh = sharding.create_mesh()
  state_sh = sharding.state_sharding(mesh, pop.size)
  batch_sh = sharding.batch_sharding(mesh, pop.size)
  members = jax.device_put(pop.members(), state_sh)
  state, restored = startup.initial_state(
      config, model, dataset.image_shape, members, workdir,
      startup.run_meta(config, pop, dataset, 0), state_sh)
  preemption.defer()  # The run starts: from here a signal ends it at a step.
  startup.record_start(config, workdir, restored)
  manager = checkpointing.create_manager(
      workdir, train_cfg.max_checkpoints_to_keep,
      train_cfg.keep_checkpoint_every_steps)
  start_step = int(jax.device_get(state.step[0]))
  writer = metric_writer.MetricWriter(workdir, start_step)
  p_train, p_eval = steps.make_steps(
      config, model, dataset.pixel_max, state_sh, batch_sh,
      dataset_size=len(dataset.train_indices))
  shard_index, num_shards = sharding.host_shard(batch_sh)
  batches = input_pipeline.batch_iterator(
      dataset, train_cfg.batch_size, config.data.seed, start_step=start_step,
      shard_index=shard_index, num_shards=num_shards)

  def elbo(params, split: str) -> list[dict]:
    return steps.eval_elbo(p_eval, params, members, (
        sharding.put_batch(b, batch_sh) for b in input_pipeline.eval_batches(
            dataset, train_cfg.eval_batch_size, train_cfg.eval_num_examples,
            shard_index, num_shards, split)))

  encode, decode = encode_decode.jitted_population(
      model, dataset.pixel_max,
      in_turn=population_lib.runs_in_turn(config.model))
  periodic = hooks(hooks_lib.RunContext(
      config=config, workdir=workdir, dataset=dataset, names=pop.names,
      writer=writer, encode=encode, decode=decode, elbo=elbo))

  num_steps = train_cfg.num_train_steps
  stop = num_steps if until_step is None else min(until_step, num_steps)
  history = []
  timer = reporting.Throughput(start_step, train_cfg.batch_size * pop.size)
  try:
    for step in range(start_step + 1, stop + 1):
      state, metrics = p_train(
          state, sharding.put_batch(next(batches), batch_sh), members)
      history.append(metrics)
      scalars = {}
      if _due(step, train_cfg.log_every_steps, num_steps):
        reporting.stop_if_nonfinite(state.nonfinite_step, pop.names, history,
                                    step, writer)
        per_member = reporting.mean_metrics(history, pop.size)
        history = []
        scalars.update(reporting.member_scalars("train", pop.names,
                                                per_member))
        scalars.update(timer.scalars(step, num_steps))
        reporting.log_console(step, pop.names, per_member, scalars)
      due = [h for h in periodic if _due(step, h.every_steps, num_steps)]
      if due:
        scalars.update(_run_hooks(due, step, state.params, pop.names))
        timer.pause_until_now()  # Evaluation is not training time.
      if scalars:
        writer.write_scalars(step, scalars)
      if (_due(step, train_cfg.checkpoint_every_steps, num_steps)
          or step == stop or preemption.signal is not None):
        reporting.stop_if_nonfinite(state.nonfinite_step, pop.names, history,
                                    step, writer)
        checkpointing.save(manager, step, state, config.to_dict(),
                           startup.run_meta(config, pop, dataset, step))
      if preemption.signal is not None:
        checkpointing.wait(manager)
        logging.info("Received %s: saved step %d to %s; exiting.",
                     preemption.signal, step, manager.directory)
        break
    checkpointing.wait(manager)
  finally:
    startup.shut_down(manager, writer)
  return state


def _run_hooks(due: list[hooks_lib.Hook], step: int, params,
               names: tuple[str, ...]) -> dict[str, float]:
  """Runs the due hooks; their per-member results as scalars, grouped by
  prefix in the order each prefix first appears."""
  by_prefix = {}
  for hook in due:
    extra = hook.run(step, params)
    if extra is not None:
      merged = by_prefix.setdefault(hook.prefix, [{} for _ in names])
      by_prefix[hook.prefix] = [dict(m, **e) for m, e in zip(merged, extra)]
  scalars = {}
  for prefix, per_member in by_prefix.items():
    scalars.update(reporting.member_scalars(prefix, names, per_member))
  return scalars
