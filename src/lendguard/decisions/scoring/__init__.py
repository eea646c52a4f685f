"""Learned risk scores: training, the model artifact, metrics and serving helpers."""
