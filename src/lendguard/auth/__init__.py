"""API keys and scopes (least privilege on every endpoint)."""
