"""Speed measurements of betavae_jax, kept apart from the package.

Each module is a command run from the repository root, e.g.
`python -m benchmarks.train_speed`; `docs/performance.md` lists them with
the figures they gave. The package never imports this one: measuring code
is not part of what users install.
"""
