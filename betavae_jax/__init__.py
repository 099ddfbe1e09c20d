"""betavae_jax: the beta-VAE (Higgins et al., 2017) in JAX and Flax.

Importing the package is cheap: it imports no TensorFlow and does no work.
"""

__version__ = "0.1.0"
