"""The HTTP platform every area's endpoints stand on: bounded body reading, JSON and problem
responses, the edge guard, and the OpenAPI contract (documented bodies, error responses,
security schemes, offline docs). It imports no area."""
