"""ASGI entry point for uvicorn: ``lendguard.asgi:app``."""

from lendguard.app import create_app

app = create_app()
