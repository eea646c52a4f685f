"""The server's secrets: refused while built-in, made fresh on request, kept per checkout for
the demo.

Three settings protect data and must never be the values shipped in the code:

* ``LENDGUARD_PII_KEY`` — the HMAC key of the pseudonyms of phone, card and address. With the
  built-in key anyone holding the source can recompute a pseudonym from a phone number.
* ``LENDGUARD_MASTER_KEY`` — wraps the vault's data keys. Unset, it is derived from the PII
  key, so the master key would sit in the same place as the PII key (and with the built-in PII
  key, in the source).
* ``LENDGUARD_WEBHOOK_SECRET`` — signs the calls that tell the lender to release or cancel a
  held transaction. It only matters when ``LENDGUARD_WEBHOOK_URL`` is set: without a URL
  nothing is sent or signed, so the built-in value is harmless and is not refused.

:func:`refuse_default_secrets` runs where a server starts (``lendguard serve`` and the ASGI
entry ``lendguard.asgi:app``), not in ``create_app``: tests and tools build apps with their own
settings. ``lendguard demo`` uses :func:`demo_secrets`, values made once per checkout and kept
in ``var/demo-secrets.env`` (mode 0600).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from lendguard.config import DEFAULT_PII_KEY, DEFAULT_WEBHOOK_SECRET, Settings

PII_KEY = "LENDGUARD_PII_KEY"
MASTER_KEY = "LENDGUARD_MASTER_KEY"
WEBHOOK_SECRET = "LENDGUARD_WEBHOOK_SECRET"
VARIABLES = (PII_KEY, MASTER_KEY, WEBHOOK_SECRET)

DEMO_SECRETS_FILE = Path("var/demo-secrets.env")
"""Where ``lendguard demo`` keeps its secrets, relative to the checkout it runs in."""

GENERATE_HINT = (
    "Make fresh values with `lendguard secrets generate` (`--out .env` writes a .env file, "
    "mode 0600, or set them in the service's environment), keep them outside the database and "
    "never change the PII or master key of a database in use. `lendguard demo` needs none of "
    "this: it keeps its own under var/."
)


@dataclass(frozen=True, slots=True)
class SecretProblem:
    variable: str
    reason: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.reason}"


class DefaultSecrets(RuntimeError):
    """The settings carry a built-in (or empty) secret; ``problems`` names each one."""

    def __init__(self, problems: list[SecretProblem]) -> None:
        self.problems = problems
        super().__init__(refusal_message(problems))


def default_secrets(settings: Settings) -> list[SecretProblem]:
    """Each secret setting that is still built-in or empty (an empty list: all set)."""
    problems = []
    if not settings.pii_key:
        problems.append(SecretProblem(PII_KEY, "is empty"))
    elif settings.pii_key == DEFAULT_PII_KEY:
        problems.append(SecretProblem(PII_KEY, "is the built-in development key"))
    if not settings.master_key:
        problems.append(
            SecretProblem(
                MASTER_KEY,
                "is not set, so the vault's master key would be derived from the PII key",
            )
        )
    elif not _is_32_bytes_base64(settings.master_key):
        problems.append(SecretProblem(MASTER_KEY, "is not 32 bytes, base64-encoded"))
    if settings.webhook_url:
        if not settings.webhook_secret:
            problems.append(
                SecretProblem(WEBHOOK_SECRET, "is empty while LENDGUARD_WEBHOOK_URL is set")
            )
        elif settings.webhook_secret == DEFAULT_WEBHOOK_SECRET:
            problems.append(
                SecretProblem(
                    WEBHOOK_SECRET,
                    "is the built-in development secret while LENDGUARD_WEBHOOK_URL is set "
                    "(the lender could not tell LendGuard's calls from a forger's)",
                )
            )
    return problems


def _is_32_bytes_base64(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except ValueError:
        return False


def refusal_message(problems: list[SecretProblem]) -> str:
    lines = ["LendGuard will not start with built-in secrets:"]
    lines += [f"  {p}" for p in problems]
    lines.append(GENERATE_HINT)
    return "\n".join(lines)


def refuse_default_secrets(settings: Settings) -> None:
    """Raise :class:`DefaultSecrets` naming every built-in secret in ``settings``."""
    problems = default_secrets(settings)
    if problems:
        raise DefaultSecrets(problems)


def generate_secrets() -> dict[str, str]:
    """Fresh values for :data:`VARIABLES` (256 bits each; the master key as base64)."""
    return {
        PII_KEY: secrets.token_urlsafe(32),
        MASTER_KEY: base64.b64encode(secrets.token_bytes(32)).decode(),
        WEBHOOK_SECRET: secrets.token_urlsafe(32),
    }


def as_dotenv(values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def _parse(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in VARIABLES and value:
            values[name] = value
    return values


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)  # whatever the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def demo_secrets(path: Path = DEMO_SECRETS_FILE) -> dict[str, str]:
    """The demo's secrets: read from ``path``, made (and written there, mode 0600) the first
    time or when some are missing; a file others could read is made private again."""
    try:
        values = _parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        values = {}
    fresh = generate_secrets()
    complete = {name: values.get(name) or fresh[name] for name in VARIABLES}
    if complete != values:
        write_private(path, as_dotenv(complete))
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)
    return complete
