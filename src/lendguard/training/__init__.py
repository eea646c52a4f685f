"""Offline model training: replaying history into feature rows, fitting and evaluating scores.

Not serving code: the API never imports this package (an import-linter contract in
pyproject.toml says so), so LightGBM training, Polars readers and ``rich`` progress bars stay
out of the live process. The serving half of scoring lives in ``lendguard.decisions.scoring``.
"""
