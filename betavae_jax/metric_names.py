"""Names of the disentanglement metrics, importable without the metrics.

Configs and config validation check metric names before anything heavy is
loaded; `evaluation` implements the metrics under these names and imports
scipy and sklearn, which a config check must not need.
"""

# Scored from one sample of (code, factor) pairs.
CODE_METRICS = ("mig", "dci", "sap", "modularity")
# Every metric of the suite: the two that draw their own batches first.
METRICS = ("beta_vae", "factor_vae") + CODE_METRICS
