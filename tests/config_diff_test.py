"""config_diff: the fields that decide whether a checkpoint fits, and the
changes a resume records."""

from betavae_jax import base_config
from betavae_jax import config_diff
from betavae_jax import config_json


def test_shape_mismatches_compares_only_shape_fields():
  saved = {"model": {"latent_dim": 4, "conv_channels": [8, 16]},
           "image_shape": [32, 32, 1], "optim": {"name": "adam",
                                                 "learning_rate": 1e-3},
           "data": {"version": "a"}}
  same = {"model": {"latent_dim": 4, "conv_channels": (8, 16)},
          "image_shape": (32, 32, 1), "optim": {"name": "adam",
                                                "learning_rate": 1.0},
          "data": {"version": "b"}}
  assert config_diff.shape_mismatches(saved, same) == []
  other = {"model": {"latent_dim": 4, "conv_channels": (8, 32),
                     "name": "conv"}, "image_shape": (64, 64, 1),
           "optim": {"name": "sgd"}}
  assert config_diff.shape_mismatches(saved, other) == [
      "image_shape: checkpoint has [32, 32, 1], config has (64, 64, 1)",
      "model.conv_channels: checkpoint has [8, 16], config has (8, 32)",
      "model.name: checkpoint has None, config has 'conv'",
      "optim.name: checkpoint has 'adam', config has 'sgd'"]


def test_config_changes_lists_changed_new_and_removed_fields():
  saved = {"optim": {"learning_rate": 1e-3, "b1": 0.9}, "seed": 0,
           "model": {"conv_channels": [8, 16]}, "old": 1}
  current = {"optim": {"learning_rate": 2e-3, "b1": 0.9}, "seed": 0,
             "model": {"conv_channels": (8, 16)}, "train": {"new": True}}
  assert config_diff.config_changes(saved, current) == [
      ("old", 1, config_diff.ABSENT),
      ("optim.learning_rate", 1e-3, 2e-3),
      ("train.new", config_diff.ABSENT, True)]


def test_code_and_initialiser_fields_are_not_shape_fields():
  saved = {"model": {"latent_dim": 4, "conv_impl": "flax"}}
  current = {"model": {"latent_dim": 4, "conv_impl": "fast",
                       "kernel_init": "he_uniform"}}
  assert config_diff.shape_mismatches(saved, current) == []


def test_an_old_flat_config_upgrades_to_todays_names():
  old = {"objective": {"name": "capacity", "gamma": 1000.0,
                       "capacity_max": 25.0,
                       "capacity_schedule": {"name": "linear"},
                       "tcvae_alpha": 1.0, "tcvae_gamma": 2.0,
                       "tcvae_estimator": "mss"},
         "population": {"betas": None, "capacity_max": [5.0, 25.0]}}
  new = config_json.upgrade(old)
  assert new == {
      "objective": {"name": "capacity",
                    "capacity": {"gamma": 1000.0, "max": 25.0,
                                 "schedule": {"name": "linear"}},
                    "tcvae": {"alpha": 1.0, "gamma": 2.0,
                              "estimator": "mss"}},
      "population": {"betas": None, "capacity_maxes": [5.0, 25.0]}}
  assert "gamma" in old["objective"]  # The caller's dict is left alone.
  assert config_json.upgrade(new) == new
  # Compared with today's config, only the values that differ remain.
  today = base_config.base_config().to_dict()
  changes = dict((f, (a, b)) for f, a, b in config_diff.config_changes(
      config_json.upgrade(dict(today, objective=dict(
          today["objective"], gamma=500.0))), today))
  assert changes == {"objective.capacity.gamma": (500.0, 1000.0)}
