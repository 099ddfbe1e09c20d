"""The studies: each a package with its config, run command and report."""
