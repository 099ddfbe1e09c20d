"""Disentanglement metrics: the published suite, fast, on arrays or data.

`metrics` holds the entry points (its docstring shows the population
form), `scores` the array-level definitions and `udr` the unsupervised
ranking of a population: `udr.udr(codes, kl)` or `udr.udr_score(...)`.
The entry points are re-exported here; `udr` stays a module name.
`suite` scores a trained run with all of them (`suite.evaluate_run`).
"""

from betavae_jax.evaluation.metrics import beta_vae_score
from betavae_jax.evaluation.metrics import compute_all
from betavae_jax.evaluation.metrics import compute_draws
from betavae_jax.evaluation.metrics import dci
from betavae_jax.evaluation.metrics import draw_keys
from betavae_jax.evaluation.metrics import factor_vae_score
from betavae_jax.evaluation.metrics import METRICS
from betavae_jax.evaluation.metrics import mig
from betavae_jax.evaluation.metrics import modularity_explicitness
from betavae_jax.evaluation.metrics import sap
from betavae_jax.evaluation.metrics import score_codes
from betavae_jax.evaluation.metrics import spread

__all__ = ["METRICS", "beta_vae_score", "compute_all", "compute_draws",
           "dci", "draw_keys", "factor_vae_score", "mig",
           "modularity_explicitness", "sap", "score_codes", "spread"]
