"""The beta-sweep study (`python -m experiments.beta_sweep.run`)."""
