"""reporting: the metric-key format's one builder and one parser."""

import numpy as np
import pytest

from betavae_jax import reporting


def test_parse_key_inverts_member_scalars():
  per_member = [{"kl": 1.0, "kl_per_dim": np.array([0.5, 0.25]),
                 "dim_kl": 2.0, "factor_vae.eval_accuracy": 0.7}] * 2
  for names in (("",), ("beta=4,seed=0", "C=25")):
    scalars = reporting.member_scalars("eval_train", names,
                                       per_member[:len(names)])
    for key in scalars:
      parsed = reporting.parse_key(key)
      assert parsed.prefix == "eval_train" and parsed.member in names
      value = per_member[0][parsed.metric]
      if parsed.dim is None:
        assert scalars[key] == value
      else:
        assert scalars[key] == value[parsed.dim]


@pytest.mark.parametrize("key, expected", [
    ("train/kl", ("train", "kl", None, "")),
    ("train/kl_per_dim_12/beta=16", ("train", "kl_per_dim", 12, "beta=16")),
    ("eval/recon_posterior_mean/C=25", ("eval", "recon_posterior_mean",
                                        None, "C=25")),
    ("eval/mig.mig", ("eval", "mig.mig", None, "")),
])
def test_parse_key(key, expected):
  parsed = reporting.parse_key(key)
  assert (parsed.prefix, parsed.metric, parsed.dim, parsed.member) == expected


def test_non_metric_keys_are_not_parsed():
  assert reporting.parse_key("step") is None
