"""The event contract every area reads. Data only: imports no service."""
