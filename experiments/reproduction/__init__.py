"""The reproduction study (`python -m experiments.reproduction.run`)."""
