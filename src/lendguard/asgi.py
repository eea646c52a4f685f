"""ASGI entry point for uvicorn: ``lendguard.asgi:app``.

Refuses to load (exit status 2, the reason on stderr) while a secret is built-in: see
:mod:`lendguard.auth.secret_settings`."""

import sys

from lendguard.app import create_app, tune_for_serving
from lendguard.auth.secret_settings import DefaultSecrets, refuse_default_secrets
from lendguard.config import get_settings

try:
    refuse_default_secrets(get_settings())
except DefaultSecrets as exc:
    print(exc, file=sys.stderr)  # noqa: T201 - the operator reads why the server did not start
    raise SystemExit(2) from None

app = create_app(get_settings())
# After the app is built (routes, the contract), before the first request: see the function.
tune_for_serving()
