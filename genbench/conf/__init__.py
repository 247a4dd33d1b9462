"""genbench's Hydra configs (YAML, shipped as package data).

A package, not just a folder: an installed `genbench` console script finds them
as `pkg://genbench.conf`, which Hydra reads through importlib.resources.
"""
