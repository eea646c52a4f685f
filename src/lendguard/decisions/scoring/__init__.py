"""Learned risk scores on the live path: the model artifact, its input row, explanations,
monitoring and metrics. Training lives in ``lendguard.training`` (offline, never imported here)."""
