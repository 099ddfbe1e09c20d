"""The loop's one seam: periodic hooks, the default ones and a user's."""

import pytest

from betavae_jax import hooks
from betavae_jax import metric_writer
from betavae_jax import train


@pytest.mark.slow
def test_a_users_hook_runs_on_its_steps_and_its_metrics_are_logged(
    tmp_path, test_config):
  test_config.population.betas = (1.0, 4.0)
  test_config.train.eval_every_steps = 0  # Only the hook logs 'eval/'.
  calls = []

  def factory(context: hooks.RunContext) -> list[hooks.Hook]:
    assert context.names == ("beta=1", "beta=4")

    def run(step, params):
      mean, _ = context.encode(params, context.dataset.source.read([0]))
      calls.append((step, mean.shape))
      return [{"probe": float(step)}, {"probe": -float(step)}]
    return [hooks.Hook(every_steps=8, run=run)]
  train.train_and_evaluate(test_config, str(tmp_path), hooks=factory)
  latent_dim = test_config.model.latent_dim
  assert calls == [(8, (2, 1, latent_dim)), (16, (2, 1, latent_dim)),
                   (20, (2, 1, latent_dim))]  # And at the last step.
  records = metric_writer.read_metrics(str(tmp_path))
  probes = {r["step"]: (r["eval/probe/beta=1"], r["eval/probe/beta=4"])
            for r in records if "eval/probe/beta=1" in r}
  assert probes == {8: (8.0, -8.0), 16: (16.0, -16.0), 20: (20.0, -20.0)}
  assert not any("eval/elbo/beta=1" in r for r in records)
  assert not (tmp_path / "plots").exists()


def test_default_hooks_follow_the_config(test_config):
  context = hooks.RunContext(config=test_config, workdir="", dataset=None,
                             names=("",), writer=None, encode=None,
                             decode=None)
  test_config.train.eval_every_steps = 0
  assert hooks.default_hooks(context) == []


@pytest.mark.slow
def test_default_hooks_log_the_elbo_on_both_splits_at_each_evaluation(
    tmp_path, test_config):
  test_config.population.betas = (1.0, 4.0)
  calls = []

  def factory(context: hooks.RunContext) -> list[hooks.Hook]:
    defaults = hooks.default_hooks(context)
    assert [h.prefix for h in defaults] == ["eval", "eval", "eval_train"]

    def count(step, params):
      del params
      calls.append(step)
    return defaults + [hooks.Hook(every_steps=10, run=count)]
  train.train_and_evaluate(test_config, str(tmp_path), hooks=factory)
  assert calls == [10, 20]
  records = {r["step"]: r for r in metric_writer.read_metrics(str(tmp_path))}
  for step in (10, 20):
    for prefix in ("eval", "eval_train"):
      for member in ("beta=1", "beta=4"):
        r = records[step]
        assert r[f"{prefix}/elbo/{member}"] == pytest.approx(
            -(r[f"{prefix}/recon/{member}"] + r[f"{prefix}/kl/{member}"]))
  assert not any(k.startswith("eval") for k in records[5])
